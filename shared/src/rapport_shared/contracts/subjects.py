"""Subject scheme: rapport.<clinic_id>.<service>.<event>.

One wildcard, rapport.<clinic_id>.>, gives an integrator one clinic's events and nothing else.
"""

from rapport_shared.contracts.clinic import require_clinic_slug

PREFIX = "rapport"


def event_subject(clinic_id: str, service: str, event_type: str) -> str:
    return f"{PREFIX}.{require_clinic_slug(clinic_id)}.{service}.{event_type}"


def service_subjects(service: str) -> str:
    """Every clinic's events of one service: what the owning service's stream captures."""
    return f"{PREFIX}.*.{service}.>"


def event_subjects(service: str, event_type: str) -> str:
    """One event type of one service across all clinics: a consumer's filter."""
    return f"{PREFIX}.*.{service}.{event_type}"


def clinic_subjects(clinic_id: str) -> str:
    return f"{PREFIX}.{require_clinic_slug(clinic_id)}.>"


def stream_name(service: str) -> str:
    return f"RAPPORT_{service.upper()}"
