"""Offline stand-ins for Spotify, SeatGeek, Ticketmaster and Secret Manager (python -m sandbox)."""
