"""Forms for the decision log pages: propose, sign, decline, upload signatures."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, IntegerField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from crypto.logschema import IMPACT_TEXT_MAX

from .forms import AidForm, no_control_characters

NOTE_MAX = 2000


class ProposalActionForm(AidForm):
    proposal = HiddenField(validators=[DataRequired(), Length(max=64)])


class MemberForm(AidForm):
    account = SelectField(_l("An account on this server"), validate_choice=False, validators=[Optional()])
    card = TextAreaField(_l("Or a member card (the line that aidnet keyholder keygen printed)"),
                         validators=[Optional(), Length(max=400), no_control_characters])
    until = StringField(_l("Term ends on (YYYY-MM-DD, optional)"), validators=[Optional(), Length(max=10)])


class MemberActionForm(AidForm):
    sign = HiddenField(validators=[DataRequired(), Length(min=64, max=64)])
    until = StringField(_l("Renew until (YYYY-MM-DD)"), validators=[Optional(), Length(max=10)])


class RemoveForm(AidForm):
    """Removing a member takes their reading away: it asks for a tick, not just a click."""

    sign = HiddenField(validators=[DataRequired(), Length(min=64, max=64)])
    confirm = BooleanField(_l("Yes, propose removing this member"),
                           validators=[DataRequired(_l("Tick the box to confirm: a removal takes their reading away."))])


class QuorumForm(AidForm):
    quorum = IntegerField(_l("Signatures needed"), validators=[DataRequired(), NumberRange(min=1, max=255)])
    confirm = BooleanField(_l("Yes, propose this quorum for every decision from now on"),
                           validators=[DataRequired(_l("Tick the box to confirm the new quorum."))])


class AllocationForm(AidForm):
    source = SelectField(_l("Give from"), validate_choice=False, validators=[DataRequired()])
    amount = IntegerField(_l("Amount (whole units of money, or how many from stock)"),
                          validators=[Optional(), NumberRange(min=1, max=10_000_000)])
    note = TextAreaField(_l("Note for the keyholders (sealed)"),
                         validators=[Optional(), Length(max=NOTE_MAX), no_control_characters])


class DisputeForm(AidForm):
    decision = HiddenField(validators=[DataRequired(), Length(max=64)])
    note = TextAreaField(_l("What is wrong with this decision? (sealed)"),
                         validators=[Optional(), Length(max=NOTE_MAX), no_control_characters])


class ResolutionForm(AidForm):
    dispute = HiddenField(validators=[DataRequired(), Length(max=64)])
    outcome = SelectField(_l("Outcome"), validate_choice=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.outcome.choices = [("upheld", _l("The decision stands")), ("overturned", _l("The decision is overturned"))]

    def validate(self, extra_validators: object = None) -> bool:
        ok = super().validate(extra_validators)
        return ok and self.outcome.data in ("upheld", "overturned")
    note = TextAreaField(_l("Reason (sealed)"), validators=[Optional(), Length(max=NOTE_MAX), no_control_characters])


class SignaturesUploadForm(AidForm):
    file = FileField(_l("Signatures file (made by aidnet keyholder sign)"), validators=[FileRequired()])


class RotateForm(AidForm):
    passphrase = PasswordField(_l("Your passphrase (it will protect the new keys too)"),
                               validators=[DataRequired(_l("Type your passphrase.")), Length(max=1024)])


class ImpactForm(AidForm):
    """An impact update: one public text per language (text_en, text_es, …), at least one of them."""


def impact_form(languages: list[tuple[str, str]], **kwargs: object) -> ImpactForm:
    """An ImpactForm with a text field for each (code, name) language this site is shown in."""

    class Form(ImpactForm):
        pass

    for code, name in languages:
        setattr(Form, f"text_{code}", TextAreaField(
            _l("In %(language)s", language=name),
            validators=[Optional(), Length(max=IMPACT_TEXT_MAX), no_control_characters]))
    return Form(**kwargs)
