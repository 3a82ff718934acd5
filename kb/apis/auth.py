"""Token login for API clients (scripts, shop back-ends); the back office uses its session."""

from typing import Any

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.exceptions import ApplicationError
from config.throttling import AddressRateThrottle


class TokenObtainApi(APIView):
    """Trade a staff member's username and password for the token sent as `Authorization: Token <key>`."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (AddressRateThrottle,)

    class InputSerializer(serializers.Serializer[Any]):
        username = serializers.CharField()
        password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})

        class Meta:
            ref_name = "TokenObtain"

    class OutputSerializer(serializers.Serializer[Any]):
        token = serializers.CharField()

        class Meta:
            ref_name = "Token"

    @extend_schema(request=InputSerializer, responses=OutputSerializer, auth=[])
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(request=request, **serializer.validated_data)
        if user is None and getattr(request, "axes_locked_out", False):
            raise Throttled(detail="Too many failed sign-ins from your address; try again later.")
        if user is None:
            raise ApplicationError("Wrong username or password.")
        if not getattr(user, "is_staff", False):
            raise ApplicationError("This account is not a staff account.")
        token, _created = Token.objects.get_or_create(user=user)
        return Response(self.OutputSerializer({"token": token.key}).data)
