"""Run the sessions service: `python -m rapport_sessions` or `rapport-sessions`."""

from rapport_sessions.bootstrap import build_app
from rapport_sessions.settings import SessionsSettings
from rapport_shared.runtime.service import serve


def main() -> None:
    settings = SessionsSettings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    main()
