"""Keyholders' pages for the decision log: members, quorum, pending decisions, allocations, disputes."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

import crypto
from crypto import strictjson
from crypto.log import REQUESTER, pending_problem
from crypto.logschema import IMPACT_TEXT_MAX, is_id

from .. import dates
from ..decisions import effects, keyholder, membership, offline, proposals
from ..decisions.notes import forget_note, open_note, seal_note
from ..decisions.proposals import DecisionRefused
from ..records import coordinators
from ..records import offers as offer_records
from ..records import reseal as records_reseal
from ..records.requests import open_request
from ..sealing import reseal as sealing_reseal
from ..sealing.readers import current
from ..store import accounts as account_rows
from ..store import decision_log as log_rows
from . import labels
from .auth import login_required
from .connections import get_store, settings
from .decision_forms import (
    MemberActionForm,
    MemberForm,
    ProposalActionForm,
    QuorumForm,
    RemoveForm,
    ResolutionForm,
    RotateForm,
    SignaturesUploadForm,
    impact_form,
)
from .forms import EmptyForm
from .labels import decision_labels
from .pages import not_enough_money

bp = Blueprint("decisions", __name__, url_prefix="/coordinator/decisions")
# How long one page view of a re-seal works before the page asks for itself again.
RESEAL_STEP_SECONDS = 2.0


def _day(text: str | None) -> int | None:
    """The typed date as a day, None if empty, -1 if it is not a date (the caller says so)."""
    try:
        return dates.parse_day(text)
    except ValueError:
        return -1


def _card(member: dict[str, Any]) -> str:
    handle, box, sign = (str(member.get(k, "")) for k in ("handle", "box", "sign"))
    return str(_("%(handle)s, card %(fp)s", handle=handle, fp=crypto.cards.fingerprint(handle, box, sign)))


def _who(state: Any, sign: Any) -> str:
    """A member by their card; one no longer a member by the card they had in the log (the history shows them)."""
    member = state.members.get(str(sign)) or _former(state).get(str(sign))
    return _card(member.to_json() if hasattr(member, "to_json") else member) if member else str(_("an unknown key"))


def _former(state: Any) -> dict[str, dict[str, Any]]:
    """Every card the log ever carried, by signing key (members who left or rotated their keys included).

    Read once per page view (the log up to the state shown)."""
    if getattr(g, "former_cards", None) is None:
        cards: dict[str, dict[str, Any]] = {}
        for record in log_rows.records(get_store()):
            body = record["proposal"]["body"]
            for member in body.get("members", []) if record["proposal"]["type"] == "genesis" else [body.get("member")]:
                if isinstance(member, dict) and "sign" in member:
                    cards[str(member["sign"])] = member
        g.former_cards = cards
    return g.former_cards  # type: ignore[no-any-return]


def _handle(state: Any, sign: Any) -> str:
    member = state.members.get(str(sign))
    if member is not None:
        return str(member.handle)
    return str(_former(state).get(str(sign), {}).get("handle") or _("an unknown key"))


def _until(day: Any) -> str:
    return dates.day_to_date(day).isoformat() if isinstance(day, int) else str(_("no end"))


def _summary(proposal: dict[str, Any], state: Any) -> str:
    """A proposal in full words: what changes, for whom, how much (never personal content: there is none in clear)."""
    body = proposal.get("body", {})
    kind = proposal.get("type")
    member = body.get("member") or {}
    if kind == "add_member":
        return str(_("%(who)s joins, term until %(day)s", who=_card(member), day=_until(member.get("until"))))
    if kind == "remove_member":
        return str(_("%(who)s leaves: new records are no longer sealed to them", who=_who(state, body.get("sign"))))
    if kind == "rotate_key":
        return str(_("%(old)s changes keys: the new card is %(new)s", old=_who(state, body.get("old_sign")),
                     new=_card(member)))
    if kind == "renew_member":
        return str(_("%(who)s, term until %(day)s", who=_who(state, body.get("sign")), day=_until(body.get("until"))))
    if kind == "set_quorum":
        return str(_("%(n)s of %(m)s signatures needed from now on (now %(q)s)", n=body.get("quorum"),
                     m=len(state.members), q=state.quorum))
    if kind in ("allocation", "distribution"):
        row = open_request(get_store(), g.session.keys, str(body.get("request", "")))
        seq = row.seq if row else "?"
        source = body.get("source") or {}
        if kind == "distribution":
            return str(_("request %(seq)s: the help allocated to it was handed over", seq=seq))
        if source.get("kind") == "money":  # the exact amount kept in the database; the log holds its band
            return str(_("request %(seq)s gets money: %(n)s", seq=seq, n=effects.exact_amount(get_store(), proposal)))
        if source.get("kind") == "offer":
            offer = offer_records.offer_by_id(get_store(), g.session.keys, str(source.get("ref", "")))
            if offer is None or offer.details is None:
                return str(_("request %(seq)s gets an offer that is gone or not sealed to you", seq=seq))
            return str(_("request %(seq)s gets offer %(offer)s: %(what)s", seq=seq, offer=offer.seq,
                         what=offer.details.what[:80]))
        if isinstance(source.get("amount"), int):
            return str(_("request %(seq)s gets %(n)s from stock", seq=seq, n=source["amount"]))
        return str(_("request %(seq)s gets something from stock (the note says what and how much)", seq=seq))
    if kind == "receipt":
        what = labels.place_labels("categories").get(str(body.get("category")), str(body.get("category")))
        if body.get("kind") == "money":  # the exact amount kept in the database; the log holds its band
            return str(_("money received for %(what)s: %(n)s", what=what,
                         n=labels.money(effects.exact_amount(get_store(), proposal))))
        return str(_("goods received for %(what)s: %(n)s", what=what, n=body.get("amount")))
    if kind == "set_budget":
        what = labels.place_labels("categories").get(str(body.get("category")), str(body.get("category")))
        if not body.get("amount"):
            return str(_("no monthly budget for %(what)s from now on", what=what))
        return str(_("a monthly budget of %(n)s for %(what)s", what=what, n=labels.money(body.get("amount"))))
    if kind == "set_threshold":
        return str(_("money received from %(n)s up needs the quorum (now from %(old)s)",
                     n=labels.money(body.get("threshold")), old=labels.money(state.threshold)))
    if kind == "dispute":
        return str(_("against decision %(id)s", id=str(body.get("decision", ""))[:8]))
    if kind == "resolution":
        return str(body.get("outcome", ""))
    if kind == "impact_update":  # public by nature: the texts as they will be published
        return str(_("to publish on the transparency page: %(texts)s", texts="; ".join(
            f"[{code}] {text}" for code, text in sorted((body.get("texts") or {}).items()))))
    return ""


def _proposer(proposal: dict[str, Any], state: Any) -> str:
    by = proposal.get("by")
    if by == REQUESTER:
        return str(_("the requester"))
    return _who(state, by) if by else str(_("nobody says who"))


HISTORY_PAGE = 20
# Proposals that take something away (a member's reading, the number of signatures every decision needs):
# shown apart, and proposed only with a confirming tick.
DESTRUCTIVE = frozenset({"remove_member", "set_quorum"})


def _history(state: Any, page: int) -> dict[str, Any]:
    """Final decisions, newest first, a page at a time: what each changed, who proposed it, who signed it."""
    records = log_rows.records(get_store())
    labels = decision_labels()
    start = (page - 1) * HISTORY_PAGE
    shown = []
    for record in reversed(records[:len(records) - start] if start < len(records) else []):
        proposal = record["proposal"]
        shown.append({"seq": record["seq"], "day": dates.day_to_date(record["day"]).isoformat(),
                      "label": labels.get(proposal["type"], proposal["type"]),
                      "summary": _summary(proposal, state) if proposal["type"] != "genesis" else "",
                      "by": _proposer(proposal, state) if proposal["type"] != "genesis" else "",
                      "signers": sorted({_handle(state, s.get("signer")) for s in record["signatures"]})})
        if len(shown) == HISTORY_PAGE:
            break
    return {"records": shown, "page": page, "older": start + HISTORY_PAGE < len(records)}


def _page(code: int = 200, notice: str | None = None, **forms: Any) -> tuple[str, int]:
    store = get_store()
    state = current(store)
    today = dates.today()
    me = g.session.keys.sign_public.hex()
    pending = []
    for p in log_rows.proposals(store):
        signers = state.valid_signers(p.proposal, p.signatures, today)
        pending.append({"p": p, "summary": _summary(p.proposal, state), "by": _proposer(p.proposal, state),
                        "problem": pending_problem(state, p.proposal, p.signatures, today),
                        "note": open_note(store, p.id, p.proposal["body"].get("note"), g.session.keys),
                        "signed": me in signers, "count": len(signers), "declines": len(p.declines),
                        "signers": sorted(state.members[k].handle for k in signers),
                        "needed": max(0, state.required(p.proposal) - len(signers)),
                        "destructive": p.proposal["type"] in DESTRUCTIVE})
    members_by_key = {m.sign for m in state.members.values()}
    accounts = [(str(r.id), r.handle) for r in account_rows.all_accounts(store)
                if r.sign_public.hex() not in members_by_key]
    member_form = forms.get("member_form") or MemberForm()
    member_form.account.choices = [("", _("Choose an account"))] + accounts
    members = [{"m": m, "active": m.active(today), "fingerprint": keyholder.fingerprint(m), "signed_card": bool(m.card),
                "until": dates.day_to_date(m.until).isoformat() if m.until is not None else None}
               for m in sorted(state.members.values(), key=lambda m: m.handle)]
    return render_template(
        "coordinator/decisions.html", state=state, pending=pending, members=members, labels=decision_labels(), me=me,
        member_form=member_form, quorum_form=forms.get("quorum_form") or QuorumForm(quorum=state.quorum),
        action_form=ProposalActionForm(), member_action_form=MemberActionForm(), reseal_form=EmptyForm(),
        upload_form=forms.get("upload_form") or SignaturesUploadForm(), resolution_form=ResolutionForm(),
        rotate_form=forms.get("rotate_form") or RotateForm(), my_fingerprint=g.session.fingerprint,
        impact_form=forms.get("impact_form") or _impact_form(), impact_languages=_impact_languages(),
        impact_max=IMPACT_TEXT_MAX,
        remove_form=RemoveForm(), history=_history(state, forms.get("history_page", 1)),
        reseal_due=bool(proposals.reseal_due(store)),
        bundle_until=dates.day_to_date(offline.expiry_day(settings(), today)).isoformat(),
        logout_form=EmptyForm(), notice=notice, disputes=_open_disputes(store, state),
    ), code


def _open_disputes(store: Any, state: Any) -> list[dict[str, Any]]:
    """Open disputes with their sealed notes opened for this keyholder."""
    found = []
    for record in log_rows.records(store):
        proposal = record["proposal"]
        if proposal["id"] in state.open_disputes:
            found.append({"id": proposal["id"], "decision": state.open_disputes[proposal["id"]],
                          "by": proposal["body"].get("raised_by", "keyholder"),
                          "note": open_note(store, proposal["id"], proposal["body"].get("note"), g.session.keys)})
    return found


def _account_ids(store: Any) -> list[int]:
    return [r.id for r in account_rows.all_accounts(store)]


def _done(final: bool, kind: str | None = None) -> Response:
    """Where a proposal or a signature leads: final, pending, or (the readers changed) the re-seal."""
    if final and kind in proposals.MEMBERSHIP_TYPES:
        return redirect(url_for("decisions.resealing", at="start", then="final"), code=303)  # type: ignore[return-value]
    return redirect(url_for("decisions.index", saved="final" if final else "pending"), code=303)  # type: ignore[return-value]


def propose_decision(kind: str, body: dict[str, Any], note: str = "") -> Response:
    store = get_store()
    proposal = proposals.new_proposal(kind, body, g.session.keys)
    if note or kind in ("allocation", "distribution", "dispute", "resolution"):
        proposal["body"]["note"] = seal_note(store, proposal["id"], note, body.get("request"))
    try:
        final = proposals.propose(store, settings(), g.session.keys, proposal)
    except DecisionRefused as exc:
        forget_note(store, proposal["id"])  # sealed before the proposal was refused: nothing of it stays
        if isinstance(exc, effects.NotEnoughMoney):
            raise  # the allocation form says how much its kind of help holds (allocations.allocate)
        abort(409)
    return _done(final, kind)


@bp.get("/")
@login_required
def index() -> Any:
    # Decisions that have their signatures (from offline, or a requester's dispute) become final now,
    # sealed by this keyholder; if the readers changed, the page goes on to re-seal.
    if proposals.reseal_wanted(get_store(), settings(), g.session.keys):
        return redirect(url_for("decisions.resealing", at="start", then="final"), code=303)
    saved = request.args.get("saved")
    final = _("Done: the decision is final and in the log.")
    resealed = _("Open records are now sealed to the current members only.")
    notice = {"final": final, "pending": _("Saved: the decision waits for more signatures."),
              "declined": _("You declined it."), "resealed": resealed,
              "final-resealed": f"{final} {resealed}"}.get(saved or "")
    page = request.args.get("history", 1, type=int) or 1
    if not 1 <= page <= 100_000:
        abort(404)
    return _page(notice=notice, history_page=page)


@bp.post("/member")
@login_required
def propose_member() -> Any:
    form = MemberForm()
    form.account.choices = [("", "")] + [(str(i), "") for i in _account_ids(get_store())]
    if not form.validate_on_submit():
        return _page(400, member_form=form)
    until = _day(form.until.data)
    if until == -1:
        form.until.errors = [_("Write the date as YYYY-MM-DD.")]
        return _page(400, member_form=form)
    try:
        if form.card.data and form.card.data.strip():
            member = membership.parse_member_card(form.card.data, until)
        elif form.account.data:
            if form.account.data not in {str(i) for i in _account_ids(get_store())}:
                raise ValueError
            row = account_rows.by_id(get_store(), int(form.account.data))
            if row is None:
                raise ValueError
            member = membership.member_from_account(row, until)
        else:
            raise ValueError
    except ValueError:
        form.form_errors.append(_("Choose an account or paste a valid member card."))
        return _page(400, member_form=form)
    except DecisionRefused:
        # A card not signed by its own keys: its box key may have been swapped for someone else's.
        form.form_errors.append(_("That card is not signed by its own keys, so it cannot be proposed. "
                                  "Ask the new member for their card again."))
        return _page(400, member_form=form)
    return propose_decision("add_member", {"member": member})


@bp.post("/member/remove")
@login_required
def remove_member() -> Any:
    form = RemoveForm()
    if not form.validate_on_submit():
        errors = form.confirm.errors or [_("That member is not in the list.")]
        return _page(400, notice=str(errors[0]))
    return propose_decision("remove_member", {"sign": form.sign.data})


@bp.post("/member/renew")
@login_required
def renew_member() -> Any:
    form = MemberActionForm()
    until = _day(form.until.data)
    if not form.validate_on_submit() or until == -1:
        return _page(400, notice=_("Write the date as YYYY-MM-DD."))
    return propose_decision("renew_member", {"sign": form.sign.data, "until": until})


@bp.post("/quorum")
@login_required
def quorum() -> Any:
    form = QuorumForm()
    if not form.validate_on_submit():
        return _page(400, quorum_form=form)
    return propose_decision("set_quorum", {"quorum": form.quorum.data})


@bp.post("/rotate")
@login_required
def rotate() -> Any:
    form = RotateForm()
    if not form.validate_on_submit():
        return _page(400, rotate_form=form)
    try:
        final = membership.propose_rotation(get_store(), settings(), g.session.coordinator.handle, form.passphrase.data,
                                            form.new_passphrase.data)
    except coordinators.PassphraseTooLong:
        form.new_passphrase.errors = [_("The new passphrase is too long.")]
        return _page(400, rotate_form=form)
    except coordinators.WeakPassphrase:
        form.new_passphrase.errors = [_("The new passphrase must differ from the current one.")]
        return _page(400, rotate_form=form)
    except DecisionRefused:
        form.passphrase.errors = [_("That passphrase does not open your keys.")]
        return _page(403, rotate_form=form)
    return _done(final, "rotate_key")


@bp.post("/sign")
@login_required
def sign() -> Any:
    form = ProposalActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        final = proposals.sign(get_store(), settings(), form.proposal.data, g.session.keys)
    except effects.NotEnoughMoney as exc:  # closed as refused: say why, in the page's language
        return _page(409, notice=not_enough_money(exc))
    except DecisionRefused:
        abort(409)
    return _done(final, proposals.kind_of(get_store(), form.proposal.data))


@bp.post("/decline")
@login_required
def decline() -> Any:
    form = ProposalActionForm()
    if not form.validate_on_submit():
        abort(400)
    proposals.decline(get_store(), form.proposal.data, g.session.keys)
    return redirect(url_for("decisions.index", saved="declined"), code=303)


@bp.post("/reseal")
@login_required
def reseal() -> Any:
    if not EmptyForm().validate_on_submit():
        abort(400)
    return redirect(url_for("decisions.resealing", at="start"), code=303)


@bp.get("/reseal")
@login_required
def resealing() -> Any:
    """Re-seal a few seconds at a time; the page asks for itself again until it is done (no JavaScript).

    Re-sealing again what is sealed to today's readers changes nothing they can read, so a page asked
    for twice, or by another tab, does no harm; the cookie is SameSite=Strict, so no other site can.
    """
    at, then = request.args.get("at", ""), request.args.get("then", "resealed")
    due = request.args.get("due") or ""  # membership decisions this re-seal settles (made final from offline)
    if then not in ("resealed", "final") or not all(is_id(pid) for pid in due.split(",") if pid):
        abort(400)
    try:
        if at == "start":
            cursor = sealing_reseal.start(get_store())
            due = ",".join(proposals.reseal_due(get_store()))
        else:
            cursor = sealing_reseal.Cursor.from_text(at)
    except ValueError:
        abort(400)
    cursor = records_reseal.reseal_some(get_store(), g.session.keys, cursor, RESEAL_STEP_SECONDS)
    if cursor.finished:
        if g.session.keys.sign_public.hex() in current(get_store()).members:  # a member's re-seal settles them
            proposals.resealed(get_store(), [pid for pid in due.split(",") if pid])
        return redirect(url_for("decisions.index", saved="resealed" if then == "resealed" else "final-resealed"),
                        code=303)
    left = cursor.seconds_left()
    return render_template("coordinator/progress.html", title=_("Re-sealing open records"), done=cursor.seen,
                           total=cursor.total, minutes_left=None if left is None else max(1, round(left / 60)),
                           next_url=url_for("decisions.resealing", at=cursor.to_text(), then=then, due=due or None),
                           logout_form=EmptyForm())


def _impact_languages() -> list[tuple[str, str]]:
    """(code, name) of every language the public pages are shown in."""
    return [(la.code, la.name) for la in current_app.config["AIDNET_LANGUAGES"]]


def _impact_form() -> Any:
    return impact_form(_impact_languages())


@bp.post("/impact")
@login_required
def propose_impact() -> Any:
    """Propose an impact update: published on the transparency page once a quorum signs it."""
    form = _impact_form()
    if not form.validate_on_submit():
        return _page(400, impact_form=form)
    texts = {}
    for code, _name in _impact_languages():
        typed = (form[f"text_{code}"].data or "").replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ").strip()
        if typed:
            texts[code] = typed
    if not texts:
        form.form_errors.append(_("Write the update in at least one language."))
        return _page(400, impact_form=form)
    return propose_decision("impact_update", {"texts": texts})


@bp.post("/resolve")
@login_required
def resolve() -> Any:
    form = ResolutionForm()
    if not form.validate_on_submit():
        abort(400)
    return propose_decision("resolution", {"dispute": form.dispute.data, "outcome": form.outcome.data}, form.note.data or "")


@bp.get("/bundle")
@login_required
def bundle() -> Any:
    try:
        signed = offline.signed_bundle(get_store(), settings(), g.session.keys)
    except DecisionRefused:
        return _page(403, notice=_("Only a member of the decision log can download the bundle."))
    until = dates.day_to_date(signed["expires"]).isoformat()
    return Response(json.dumps(signed), mimetype="application/json",
                    headers={"Content-Disposition": f"attachment; filename=aidnet-bundle-until-{until}.json"})


@bp.post("/signatures")
@login_required
def upload() -> Any:
    form = SignaturesUploadForm()
    if not form.validate_on_submit():
        return _page(400, upload_form=form)
    try:
        items = strictjson.loads(form.file.data.read(60_000))
    except strictjson.StrictJSONError:  # malformed, a key twice, or nested deep enough to crash a parser
        items = None
    if not isinstance(items, list):
        form.file.errors = [_("This is not a signatures file from aidnet keyholder sign.")]
        return _page(400, upload_form=form)
    accepted, refused, final = offline.import_signatures(get_store(), settings(), items)
    notice = _("Signatures accepted: %(a)s, refused: %(r)s. Decisions now final: %(f)s.", a=accepted, r=refused, f=final)
    return _page(200 if not refused else 400, notice=notice)
