"""A coordinator changes their passphrase: the current one, the new one twice (no JavaScript).

The keys stay the same and are wrapped anew under the new passphrase with
Argon2id (records.coordinators.change_passphrase); every other session of the
account ends, so a session someone else holds does not outlive the change.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from ..records import coordinators
from .auth import cookie_value, login_required
from .connections import get_store, settings
from .forms import AidForm, EmptyForm

bp = Blueprint("passphrase", __name__, url_prefix="/coordinator/passphrase")


class PassphraseForm(AidForm):
    current = PasswordField(_l("Your current passphrase"),
                            validators=[DataRequired(_l("Type your current passphrase.")), Length(max=1024)])
    new = PasswordField(_l("New passphrase (at least 12 characters; a few random words is best)"),
                        validators=[DataRequired(_l("Type a new passphrase.")),
                                    Length(min=coordinators.MIN_PASSPHRASE, max=1024,
                                           message=_l("The new passphrase must be at least 12 characters."))])
    again = PasswordField(_l("The new passphrase again"),
                          validators=[DataRequired(_l("Type the new passphrase a second time.")),
                                      EqualTo("new", _l("The two new passphrases differ. Type them again."))])


def _page(form: PassphraseForm, code: int = 200, notice: str | None = None) -> Any:
    return make_response(render_template("coordinator/passphrase.html", form=form, notice=notice,
                                         logout_form=EmptyForm()), code)


@bp.get("/")
@login_required
def index() -> Any:
    notice = None
    if request.args.get("saved"):
        notice = _("Your passphrase is changed. Your other sessions have ended: log in there with the new one.")
    return _page(PassphraseForm(formdata=None), notice=notice)


@bp.post("/")
@login_required
def change() -> Any:
    form = PassphraseForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    try:
        coordinators.change_passphrase(get_store(), settings(), g.session.coordinator.handle, form.current.data,
                                       form.new.data, keep_cookie=cookie_value())
    except coordinators.Throttled:
        form.form_errors.append(_("Too many wrong attempts. Please wait a minute and try again."))
        response = _page(form, 429)
        response.headers["Retry-After"] = "60"
        return response
    except (coordinators.WrongPassphrase, coordinators.LoginFailed):
        form.current.errors = [_("That is not your current passphrase.")]
        return _page(form, 403)
    except coordinators.KeysChanged:
        form.form_errors.append(_("Your keys changed meanwhile: a key rotation became final. "
                                  "Type the passphrase of your new keys as the current one."))
        return _page(form, 409)
    except coordinators.PassphraseTooLong:
        form.new.errors = [_("The new passphrase is too long.")]
        return _page(form, 400)
    except coordinators.WeakPassphrase:
        form.new.errors = [_("The new passphrase must differ from the current one.")]
        return _page(form, 400)
    return redirect(url_for("passphrase.index", saved=1), code=303)
