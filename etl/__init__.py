"""The etl service: builds the concerts, top-tracks and backups datasets each week."""

import warnings

# Once Python 3.11 is past its end of life (2027-10), google-api-core warns on every import that
# it no longer supports it: two lines before each command's one-line answer on a machine that
# runs 3.11 (the Makefile accepts it; App Engine runs 3.13, app.yaml). README says so once; the
# commands keep to their own lines. Set here, before any module brings google-api-core in.
warnings.filterwarnings(
    "ignore", category=FutureWarning, module=r"google\.api_core\._python_version_support"
)
