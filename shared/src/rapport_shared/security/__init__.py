"""Who may do what: bearer tokens (auth), the pure policy (policy), authentication and
authorization at the HTTP edge (access), the audit log and its writer (audit, audit_writer),
each service's copy of the care teams (care_team), a client's erasure by crypto-shredding (erasure)
and keeping secrets out of logs (redaction).
May import every group below it (contracts up to web); not runtime.
"""
