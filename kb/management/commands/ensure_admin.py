import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from kb.models import Store


class Command(BaseCommand):
    help = "Create the back-office login (once) and print it. Its password is kept in var/admin-password.txt."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"]
        password_file = Path(settings.VAR_DIR) / f"{username}-password.txt"
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = user_model.objects.create_superuser(username=username, email="", password=password)
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        elif password_file.is_file():
            password = password_file.read_text().strip()
        else:
            password = f"(unchanged; set it with `python manage.py changepassword {username}`)"
        for store in Store.objects.all():
            store.staff.add(user)
        self.stdout.write(f"Back office /admin/  login: {username}  password: {password}")
