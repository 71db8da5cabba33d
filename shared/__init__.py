"""Code both services use: settings, secrets, storage, datasets and logging."""
