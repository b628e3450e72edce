"""Entry script for ``streamlit run streamlit_app.py``; the frame lives in dashboards/app.py."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # streamlit runs this as a script; the project may not be installed
    sys.path.insert(0, str(ROOT))

from dashboards.app import main  # noqa: E402

main()
