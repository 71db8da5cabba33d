"""The etl service: builds the concerts, top-tracks and backups datasets each week."""

import warnings

# Once Python 3.11 is past its end of life (2027-10), google-api-core warns on every import that
# it no longer supports it: two lines before each command's one-line answer, every hour in the
# logs. README tells the operator once (move the runtime to Python 3.12+); the commands keep to
# their own lines. Set here, before any module of the service brings google-api-core in.
warnings.filterwarnings(
    "ignore", category=FutureWarning, module=r"google\.api_core\._python_version_support"
)
