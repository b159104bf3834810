"""`python -m rapport_goals`: the API and the session-closed consumer, configured from the
environment (RAPPORT_GOALS_*, RAPPORT_*)."""

from rapport_goals.bootstrap import build_app
from rapport_goals.settings import GoalsSettings
from rapport_shared.runtime.service import serve


def main() -> None:
    settings = GoalsSettings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    main()
