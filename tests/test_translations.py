"""The back office speaks the user's language: Simplified Chinese by default, English by the browser.

The catalogues (`<app>/locale/zh_Hans/LC_MESSAGES/django.po`) are compiled into the committed `.mo`
files, so a fresh clone needs no GNU gettext; these tests keep the two in step and every text of ours
translated. Regenerate both with `make messages`.
"""

import ast
import gettext
import re
from pathlib import Path

import polib
import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.utils import translation

APPS = ("kb", "conversations")
CJK = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"%\(\w+\)[sdr]|\{\w+\}")
GETTEXT_NAMES = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext", "pgettext_lazy"}
TEMPLATE_TRANSLATE = re.compile(r"""{%\s*translate\s+(["'])(.+?)\1""")


def _po(app: str) -> polib.POFile:
    return polib.pofile(str(Path(settings.BASE_DIR) / app / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))


def _mo(app: str) -> dict[str, str]:
    path = Path(settings.BASE_DIR) / app / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.mo"
    with path.open("rb") as fh:
        catalog = gettext.GNUTranslations(fh)._catalog  # type: ignore[attr-defined]
    return {key: value for key, value in catalog.items() if key != ""}


@pytest.mark.parametrize("app", APPS)
def test_every_msgid_is_translated_in_the_chinese_catalogue(app):
    po = _po(app)
    assert len(po) > 20
    untranslated = [entry.msgid for entry in po if not entry.msgstr.strip() and not entry.obsolete]
    fuzzy = [entry.msgid for entry in po if "fuzzy" in entry.flags]
    assert untranslated == []
    assert fuzzy == []
    for entry in po:
        # A placeholder lost in translation would show "%(count)s" or "{n}" to the user, or fail to fill.
        assert sorted(PLACEHOLDER.findall(entry.msgstr)) == sorted(PLACEHOLDER.findall(entry.msgid)), entry.msgid


@pytest.mark.parametrize("app", APPS)
def test_compiled_catalogue_is_up_to_date_with_the_po_file(app):
    expected = {entry.msgid: entry.msgstr for entry in _po(app) if not entry.obsolete}
    assert _mo(app) == expected, "run `make messages` and commit the .mo files"


def _marked_in_python(app: str) -> set[str]:
    """The literal strings passed to gettext functions in the app's Python files."""
    found: set[str] = set()
    for path in (Path(settings.BASE_DIR) / app).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            first = node.args[0]
            if name in GETTEXT_NAMES and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.add(first.value)
    return found


def _marked_in_templates(app: str) -> set[str]:
    found: set[str] = set()
    for path in (Path(settings.BASE_DIR) / app / "templates").rglob("*.html"):
        found |= {match.group(2) for match in TEMPLATE_TRANSLATE.finditer(path.read_text(encoding="utf-8"))}
    return found


@pytest.mark.parametrize("app", APPS)
def test_every_marked_string_of_the_app_is_in_its_catalogue(app):
    """A text marked in code or a template but never extracted would stay English in the Chinese back office."""
    msgids = {entry.msgid for entry in _po(app)}
    marked = _marked_in_python(app) | _marked_in_templates(app)
    assert len(marked) > 20
    assert sorted(marked - msgids) == [], "run `make messages`, translate the new entries"


def _model_texts():
    for app in APPS:
        config = apps.get_app_config(app)
        yield f"{app} app", config.verbose_name
        for model in config.get_models():
            meta = model._meta
            yield f"{meta.label} verbose_name", meta.verbose_name
            yield f"{meta.label} verbose_name_plural", meta.verbose_name_plural
            for field in meta.get_fields():
                if field.auto_created or not hasattr(field, "verbose_name"):
                    continue
                yield f"{meta.label}.{field.name}", field.verbose_name
                if field.help_text:
                    yield f"{meta.label}.{field.name} help_text", field.help_text
                for value, label in field.flatchoices or ():
                    yield f"{meta.label}.{field.name} choice {value}", label


def test_model_labels_help_texts_and_choices_are_marked_for_translation():
    texts = list(_model_texts())
    assert len(texts) > 100
    with translation.override("zh-hans"):
        not_chinese = [where for where, text in texts if not CJK.search(str(text))]
    with translation.override("en"):
        not_english = [where for where, text in texts if CJK.search(str(text)) and "折" not in str(text)]
    assert not_chinese == []
    assert not_english == [], "a label of ours is written in Chinese instead of translated"


def test_admin_section_names_and_header_are_translated():
    names = []
    for model_admin in admin.site._registry.values():
        if model_admin.__module__.split(".")[0] not in APPS:
            continue
        names += [name for name, _options in model_admin.fieldsets or () if name]
    assert len(names) >= 6
    with translation.override("zh-hans"):
        assert [str(name) for name in names if not CJK.search(str(name))] == []
        assert str(admin.site.site_header) == "ShopDesk 客服后台"
    with translation.override("en"):
        assert str(admin.site.site_header) == "ShopDesk back office"


def test_same_reason_has_one_name_in_admin_and_console():
    from conversations.console_texts import console_texts
    from conversations.models import HandoffTicket

    with translation.override("zh-hans"):
        texts = console_texts()
        assert texts["reasons"]["guardrail"] == str(HandoffTicket.Reason.GUARDRAIL.label) == "触发安全规则"
        assert texts["ticket"]["open"] == "待接入"
    with translation.override("en"):
        assert console_texts()["reasons"]["guardrail"] == "Safety rule tripped"


@pytest.mark.django_db
def test_admin_speaks_chinese_by_default_and_english_to_an_english_browser(client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-123"))

    chinese = client.get("/admin/").content.decode()
    english = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()

    assert "ShopDesk 客服后台" in chinese and "Django" not in chinese
    assert "店铺知识库" in chinese and "常见问题" in chinese and "转人工工单" in chinese
    assert "ShopDesk back office" in english and "FAQ entries" in english and "Handoff tickets" in english
    assert not CJK.search(english.split("<body", 1)[1].split('id="user-tools"', 1)[0])


@pytest.mark.django_db
def test_agent_console_texts_follow_the_browser_language(client):
    from tests.kb.factories import StaffUserFactory, StoreFactory

    client.force_login(StaffUserFactory(stores=[StoreFactory(slug="shop", name="Bear shop")]))

    chinese = client.get("/agent/")
    english = client.get("/agent/", HTTP_ACCEPT_LANGUAGE="en")

    assert chinese.context["console_config"]["strings"]["claim"] == "认领"
    assert "交还机器人" in chinese.content.decode() and '<html lang="zh-hans">' in chinese.content.decode()
    assert english.context["console_config"]["strings"]["reasons"]["shopper_asked"] == "Shopper asked for an agent"
    page = english.content.decode()
    assert "Hand back to the bot" in page and "End chat" in page
    assert not CJK.search(page.split("<script", 1)[0])
