"""The dashboard entrypoint: ``streamlit run dashboard/app.py`` (``spendwatch dashboard`` does it).

Only navigation lives here. Each page draws the global filters itself
(:func:`dashboard.components.page_setup`): widgets drawn in the entrypoint lose their state on
reruns under ``AppTest``, and per-page drawing with restored state behaves the same in both.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="spendwatch", page_icon=":material/savings:", layout="wide")

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/payments:", default=True),
    st.Page("pages/gpu_fleet.py", title="GPU fleet", icon=":material/memory:", url_path="gpu"),
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
