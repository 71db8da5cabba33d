"""Stand-in for SeatGeek's Platform API: GET /2/events with its filters and paging."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request

from sandbox.geo_filter import miles_between, parse_utc

bp = Blueprint("seatgeek", __name__, url_prefix="/seatgeek/2")

CLIENT_IDS = {"sandbox-seatgeek"}
MAX_PER_PAGE = 50  # reduced by SeatGeek in 2023


def _error(status: int, message: str) -> tuple[dict[str, Any], int]:
    return {"status": status, "error": message}, status


def _range_miles(raw: str) -> float:
    raw = raw.strip().lower()
    if raw.endswith("km"):
        return float(raw[:-2]) * 0.621371
    return float(raw.removesuffix("mi"))


@bp.get("/events")
def events() -> Any:
    """List events that pass every filter given, a page at a time."""
    args = request.args
    if args.get("client_id") not in CLIENT_IDS:
        return _error(403, "Invalid client_id")
    try:
        per_page = min(MAX_PER_PAGE, max(1, int(args.get("per_page", 10))))
        page = max(1, int(args.get("page", 1)))
        gte = parse_utc(args["datetime_utc.gte"]) if "datetime_utc.gte" in args else None
        lte = parse_utc(args["datetime_utc.lte"]) if "datetime_utc.lte" in args else None
        near = None
        if "lat" in args and "lon" in args:
            near = (float(args["lat"]), float(args["lon"]), _range_miles(args.get("range", "30mi")))
    except ValueError as error:
        return _error(400, f"Invalid parameter: {error}")
    state = args.get("venue.state", "").upper()
    city = args.get("venue.city", "").lower()
    taxonomy = args.get("taxonomies.name", "").lower()
    slug = args.get("performers.slug", "").lower()
    text = args.get("q", "").lower()
    world = current_app.extensions["sandbox"]
    chosen = []
    for event in world.seatgeek_by_state.get(state, []) if state else world.seatgeek_events:
        # A world may hold malformed events on purpose: serve them, never crash on them.
        venue = event.get("venue") if isinstance(event.get("venue"), dict) else {}
        location = venue.get("location") if isinstance(venue.get("location"), dict) else {}
        if city and str(venue.get("city", "")).lower() != city:
            continue
        if taxonomy and taxonomy not in {t["name"].lower() for t in event.get("taxonomies", [])}:
            continue
        if slug and slug not in {p.get("slug", "") for p in event.get("performers", [])}:
            continue
        if text and text not in str(event.get("title", "")).lower():
            continue
        try:
            starts = parse_utc(str(event.get("datetime_utc")))
        except ValueError:
            chosen.append(event)
            continue
        if (gte and starts < gte) or (lte and starts > lte):
            continue
        if near and (
            "lat" not in location
            or miles_between(near[0], near[1], location["lat"], location["lon"]) > near[2]
        ):
            continue
        chosen.append(event)
    sort = args.get("sort", "datetime_utc.asc")
    if sort.startswith("datetime_utc"):
        chosen.sort(
            key=lambda e: (str(e.get("datetime_utc")), str(e.get("id"))),
            reverse=sort.endswith(".desc"),
        )
    elif sort.startswith("id"):
        chosen.sort(key=lambda e: str(e.get("id")), reverse=sort.endswith(".desc"))
    start = (page - 1) * per_page
    return {
        "events": chosen[start : start + per_page],
        "meta": {
            "total": len(chosen),
            "page": page,
            "per_page": per_page,
            "took": 1,
            "geolocation": None,
        },
    }
