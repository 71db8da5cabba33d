"""The etl service: builds the concerts, top-tracks and backups datasets each week."""
