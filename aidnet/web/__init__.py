"""The web: the Flask app, one blueprint per audience and task, and what every response carries.

May import: every layer below (decisions, exports, records, sealing, store),
the small modules at the top of `aidnet`, `crypto`, and Flask with its kin.
Never: serve or cli. A view builds the input from the form, calls one domain
function, and maps each refusal to a page; it holds no SQL and no rule of
the domain. No page carries a script, an inline handler or anything
off-site (hardening.py sets the CSP that forbids them).

`app.create_app` wires it all; `auth` is login and login_required;
`hardening` the headers and error pages; `i18n` the languages; `prerender`
the pages drawn once and filled per visit; `request_page` the coordinator's
page for one request, which several blueprints render.
"""
