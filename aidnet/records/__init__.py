"""Records: the domain rules of requests, offers, the conversation, retention and coordinator accounts.

May import: `crypto`, `aidnet.sealing`, `aidnet.store`, and the small modules
at the top of `aidnet` (config, policy, dates, errors).
Never: decisions, exports, web, serve or cli; Flask. Nothing here sees an HTTP
request: functions take the values a person typed and return plain results
or raise a `Refused` with the reason. Personal content exists in clear only
in the memory of the call that seals or opens it.
"""
