"""The dashboard entrypoint: ``streamlit run dashboard/app.py`` (``spendwatch dashboard`` does it).

Only the access check and navigation live here. Each page draws the global filters itself
(:func:`dashboard.components.page_setup`): widgets drawn in the entrypoint lose their state on
reruns under ``AppTest``, and per-page drawing with restored state behaves the same in both.
"""

from __future__ import annotations

import streamlit as st

from dashboard import auth, data

st.set_page_config(page_title="spendwatch", page_icon=":material/savings:", layout="wide")

try:
    dashboard_settings = data.settings().dashboard
except Exception as exc:  # fail closed: without settings nobody knows who may look
    st.error(f"Cannot read the settings ({' '.join(str(exc).split())[:300]}); fix them and reload.")
    st.stop()
auth.gate(dashboard_settings)

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/payments:", default=True),
    st.Page("pages/gpu_fleet.py", title="GPU fleet", icon=":material/memory:", url_path="gpu"),
    st.Page("pages/storage.py", title="Storage", icon=":material/database:", url_path="storage"),
    st.Page("pages/savings.py", title="Savings", icon=":material/savings:", url_path="savings"),
    st.Page(
        "pages/findings.py", title="Findings", icon=":material/lightbulb:", url_path="findings"
    ),
    st.Page(
        "pages/data_health.py",
        title="Data health",
        icon=":material/monitor_heart:",
        url_path="health",
    ),
]

st.navigation(PAGES).run()
