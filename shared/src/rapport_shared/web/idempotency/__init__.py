"""Idempotency-Key on POST and PATCH commands: a retried request gets the first answer again.

- Same key, same request (method, path, query, body): the first response is replayed (status,
  body, content type and location) with `Idempotent-Replayed: true`, and nothing runs again.
- Same key, different request: 422, naming the Idempotency-Key header.
- Same key while the first request is still running: 409; retry later.
- A request that ends in 5xx (or raises) releases its key, so a retry runs again.

Keys live in the service's own database (table idempotency_keys), scoped by clinic (from the
path) and by the caller, and are forgotten after the retention period.

The claim is committed before the command runs and the response stored after it commits, in
separate transactions: if the process dies in between, the key stays claimed until its lease
runs out and a retry then runs the command again. Commands that take a client-chosen id
(session_id, goal_id, ...) are safe against that too; the key covers the rest.

A stored answer is replayed only to the same clinic, subject and role, and only once the route's
own authorization has let the repeated request through: the middleware runs the request again
up to the route's `authorize` dependency, which calls `authorized()` at its end; that is where a
replay leaves the application. A caller who may no longer do what they did (removed from the
care team, another role with the same subject) gets the refusal a fresh request would get, not
the stored answer. Paths outside /clinics/ (the operators' /admin) are authorized whole by
authentication, which has run before this middleware, and are replayed at once.

Stored answers hold clinical words (note sections, plan words, addenda), so their bodies rest
encrypted: under the key of the client the request concerned (as its authorization named them,
crypto.KeyRing, client_keys) or, when none was known (a refusal before the client was found, an
operator's command), under the service's own key, kept in client_keys under an owner no clinic
can name. Erasing a client destroys their key and `forget_client` drops their stored bodies: a
replay then answers 410 Gone, and does not run the command again.

The modules: keys (the header, its syntax, the caller and the request's fingerprint), table (the
idempotency_keys table) and migrations (its schema steps, for each service's migrations),
sealing (stored bodies at rest), store (claims and answers), authorization (the route's word
that a replay may go out), middleware (the ASGI middleware).
"""
