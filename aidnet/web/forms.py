"""Forms: every field has a length limit; every form has CSRF protection.

AidForm turns the two failures that are not about one field (a bad CSRF
token, a body that is not UTF-8) into one plain message at the top, so the
view re-renders with what the person typed.
"""

from __future__ import annotations

import secrets
import threading
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from babel import support
from flask import current_app, g
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.csrf import _FlaskFormCSRF
from flask_wtf.i18n import messages_path
from markupsafe import escape
from wtforms import BooleanField, HiddenField, PasswordField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError

from ..policy import ANSWER_MAX
from . import i18n

NEED_MAX = 4000
CONTACT_MAX = 300
CODENAME_MAX = 200
REPLY_MAX = 4000
# Line breaks and tabs are text; every other control character is refused.
_ALLOWED_CONTROLS = {"\t", "\n", "\r"}


# WTForms' own messages, loaded once per language: Flask-WTF reads wtforms' .mo catalogue
# from disk on every request that builds a form (~0.6 ms, a tenth of a whole submission;
# bench/ measured it), and the catalogues never change while the server runs.
_wtforms_catalogues: dict[str, support.Translations | support.NullTranslations] = {}
_wtforms_lock = threading.Lock()


def wtforms_translations() -> support.Translations | support.NullTranslations:
    """wtforms' messages in this request's language."""
    locale = str(get_locale() or "en")
    found = _wtforms_catalogues.get(locale)
    if found is None:
        with _wtforms_lock:
            found = _wtforms_catalogues.get(locale) or support.Translations.load(messages_path(), [locale],
                                                                                 domain="wtforms")
            _wtforms_catalogues[locale] = found
    return found


def new_form_nonce() -> str:
    """A fresh one-time value for a form that must not be stored twice (a replayed post)."""
    return secrets.token_urlsafe(16)


def no_control_characters(_form: Any, field: Any) -> None:
    value = field.data or ""
    if any(unicodedata.category(c) == "Cc" and c not in _ALLOWED_CONTROLS for c in value):
        raise ValidationError(
            _l("This contains characters that cannot be kept (such as control characters). Please remove them.")
        )


class _Later:
    """A value made the first time it is shown, escaped like any other (markupsafe)."""

    __slots__ = ("_make", "_value")

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._value: str | None = None

    def __str__(self) -> str:
        if self._value is None:
            self._value = str(self._make())
        return self._value

    def __html__(self) -> str:
        return str(escape(str(self)))


class _TokenWhenDrawn(_FlaskFormCSRF):  # type: ignore[misc]
    """Flask-WTF's CSRF, checked the same way; a new token is made only if the form is drawn.

    A form that is posted and accepted is not drawn again, and signing a token
    for it was a few percent of the server's work for a submission (bench/).
    """

    def generate_csrf_token(self, csrf_token_field: Any) -> Any:
        make = super().generate_csrf_token
        return _Later(lambda: make(csrf_token_field))


class AidForm(FlaskForm):  # type: ignore[misc]  # flask_wtf ships no type hints
    """Base form: CSRF and encoding problems become a form-level message."""

    csrf_failed = False

    class Meta:
        csrf_class = _TokenWhenDrawn

        def get_translations(self, form: Any) -> Any:
            return wtforms_translations()  # read once per language, not per request

    def validate(self, extra_validators: Any = None) -> bool:
        ok: bool = super().validate(extra_validators)
        self.form_errors: list[Any] = list(self.form_errors)
        self.csrf_failed = "csrf_token" in self.errors
        if self.csrf_failed:
            self.csrf_token.errors = []
            self.form_errors.append(
                _l("This form had expired or was not sent from this site. Check what you wrote and send it again.")
            )
            ok = False
        if g.get("bad_encoding"):
            self.form_errors.append(
                _l("Some characters could not be read. Please check your text and send it again.")
            )
            ok = False
        return ok


def choice_required(message: Any) -> Any:
    def check(_form: Any, field: Any) -> None:
        # The "Choose one" placeholder has the empty value: it is not a choice.
        if not field.data or field.data not in dict(field.choices):
            raise ValidationError(message)
    return check


def choices_once(name: str, build: Callable[[], list[tuple[str, str]]]) -> list[tuple[str, str]]:
    """build() in this page's language, made once per language: labels do not change while the app runs."""
    cache: dict[tuple[str, str], list[tuple[str, str]]] = current_app.extensions.setdefault("aidnet.choices", {})
    key = (name, i18n.current_language())
    if key not in cache:
        cache[key] = build()  # a race only builds the same list twice
    return list(cache[key])


def blank_form(form: AidForm, values: Mapping[str, str]) -> AidForm:
    """form as first shown, with values["csrf"] (and values["nonce"] if it has one): see prerender.py."""
    form.csrf_token.current_token = values["csrf"]
    if "nonce" in values:
        form.form_nonce.data = values["nonce"]
    return form


class RequestForm(AidForm):
    category = SelectField(_l("What kind of help do you need?"), validate_choice=False,
                           validators=[choice_required(_l("Choose the kind of help from the list."))])
    area = SelectField(_l("Which area are you in?"), validate_choice=False,
                       validators=[choice_required(_l("Choose your area from the list."))])
    need = TextAreaField(
        _l("What do you need?"),
        validators=[DataRequired(_l("Tell us what you need.")),
                    Length(max=NEED_MAX, message=_l("Please keep this under %(max)d characters.", max=NEED_MAX)),
                    no_control_characters],
    )
    contact = StringField(
        _l("How can we reach you? (optional)"),
        validators=[Length(max=CONTACT_MAX, message=_l("Please keep this under %(max)d characters.", max=CONTACT_MAX)),
                    no_control_characters],
    )
    urgency = RadioField(_l("How soon?"), default="this_week", validate_choice=False,
                         validators=[choice_required(_l("Choose how soon you need help."))])
    for_someone_else = BooleanField(_l("I am asking for someone else"))
    form_nonce = HiddenField(default=new_form_nonce,
                             validators=[InputRequired(), Length(min=16, max=64)])
    answer = StringField("", validators=[  # the group's question (web/gate.py), labelled per language
        Length(max=ANSWER_MAX, message=_l("Please keep this under %(max)d characters.", max=ANSWER_MAX)),
        no_control_characters])


class StatusForm(AidForm):
    codename = StringField(
        _l("Your codename"),
        validators=[DataRequired(_l("Type the codename from your receipt.")),
                    Length(max=CODENAME_MAX, message=_l("That is too long to be a codename.")),
                    no_control_characters],
    )


class LoginForm(AidForm):
    handle = StringField(_l("Handle"), validators=[DataRequired(_l("Type your handle.")), Length(max=40)])
    passphrase = PasswordField(
        _l("Passphrase"), validators=[DataRequired(_l("Type your passphrase.")), Length(max=1024)]
    )
    # Only for coordinators who turned on two-step login (aidnet/totp.py); empty otherwise.
    code = StringField(_l("Code from your app, or a recovery code (only if you turned on two-step login)"),
                       validators=[Length(max=64)])


class StatusChangeForm(AidForm):
    status = SelectField(_l("Status"), validate_choice=False,
                         validators=[choice_required(_l("Choose a status from the list."))])


class HandlerForm(AidForm):
    # "" is nobody; otherwise a member's account id (the choices are the current members).
    handler = SelectField(_l("Who handles this request"), validate_choice=True,
                          choices=[], validators=[Length(max=12)])


class ReplyForm(AidForm):
    text = TextAreaField(
        _l("Reply to the requester"),
        validators=[DataRequired(_l("Write a reply first.")),
                    Length(max=REPLY_MAX, message=_l("Please keep this under %(max)d characters.", max=REPLY_MAX)),
                    no_control_characters],
    )
    form_nonce = HiddenField(default=new_form_nonce, validators=[InputRequired(), Length(min=16, max=64)])


class EmptyForm(AidForm):
    """For buttons that only need CSRF (log out)."""
