"""Run the notifications service: `rapport-notifications` or `python -m rapport_notifications`."""

from rapport_notifications.bootstrap import build_app
from rapport_notifications.settings import NotificationsSettings
from rapport_shared.runtime.service import serve


def main() -> None:
    settings = NotificationsSettings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    main()
