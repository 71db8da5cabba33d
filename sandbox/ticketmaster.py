"""Stand-in for Ticketmaster's Discovery API v2: GET /discovery/v2/events.json."""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, current_app, request

from sandbox.geo_filter import miles_between, parse_utc

bp = Blueprint("ticketmaster", __name__, url_prefix="/ticketmaster/discovery/v2")

API_KEYS = {"sandbox-ticketmaster"}
MAX_SIZE = 200
MAX_DEPTH = 1000  # size * page must stay under this


def _fault(status: int, text: str, code: str) -> tuple[dict[str, Any], int]:
    return {"fault": {"faultstring": text, "detail": {"errorcode": code}}}, status


def _error(detail: str, code: str) -> tuple[dict[str, Any], int]:
    return {"errors": [{"code": code, "detail": detail, "status": "400"}]}, 400


def _names(event: dict[str, Any]) -> set[str]:
    names = set()
    for item in [event, *event.get("_embedded", {}).get("attractions", [])]:
        for classification in item.get("classifications", []):
            for level in ("segment", "genre", "subGenre"):
                if level in classification:
                    names.add(classification[level]["name"].lower())
    return names


def _starts(event: dict[str, Any]) -> str:
    start = (event.get("dates") or {}).get("start") or {}
    return str(start.get("dateTime") or str(start.get("localDate", "2000-01-01")) + "T12:00:00Z")


@bp.get("/events.json")
def events() -> Any:
    """List events that pass every filter given, in HAL shape, a page at a time."""
    args = request.args
    if args.get("apikey") not in API_KEYS:
        return _fault(401, "Invalid ApiKey", "oauth.v2.InvalidApiKey")
    try:
        size = min(MAX_SIZE, max(1, int(args.get("size", 20))))
        page = max(0, int(args.get("page", 0)))
        start_after = parse_utc(args["startDateTime"]) if "startDateTime" in args else None
        end_before = parse_utc(args["endDateTime"]) if "endDateTime" in args else None
        near = None
        if "latlong" in args:
            lat, lon = (float(part) for part in args["latlong"].split(","))
            radius = float(args.get("radius", 25)) * (0.621371 if args.get("unit") == "km" else 1.0)
            near = (lat, lon, radius)
    except (ValueError, KeyError) as error:
        return _error(f"Query param with invalid value: {error}", "DIS1015")
    if size * page >= MAX_DEPTH:
        return _error(
            "API Limits Exceeded: Max paging depth exceeded. (page * size) must be less than 1,000",
            "DIS1035",
        )
    state = args.get("stateCode", "").upper()
    city = args.get("city", "").lower()
    classification = args.get("classificationName", "").lower()
    country = args.get("countryCode", "").upper()
    world = current_app.extensions["sandbox"]
    chosen = []
    for event in world.ticketmaster_by_state.get(state, []) if state else world.ticketmaster_events:
        venue = ((event.get("_embedded") or {}).get("venues") or [{}])[0]
        if city and str((venue.get("city") or {}).get("name", "")).lower() != city:
            continue
        if country and (venue.get("country") or {}).get("countryCode") != country:
            continue
        if classification and classification not in _names(event):
            continue
        starts = parse_utc(_starts(event))
        if (start_after and starts < start_after) or (end_before and starts > end_before):
            continue
        location = venue["location"]
        if (
            near
            and miles_between(
                near[0], near[1], float(location["latitude"]), float(location["longitude"])
            )
            > near[2]
        ):
            continue
        chosen.append(event)
    chosen.sort(
        key=lambda e: (_starts(e), e["id"]), reverse=args.get("sort", "date,asc") == "date,desc"
    )
    found = chosen[page * size : (page + 1) * size]
    answer: dict[str, Any] = {
        "_links": {"self": {"href": request.full_path}},
        "page": {
            "size": size,
            "totalElements": len(chosen),
            "totalPages": math.ceil(len(chosen) / size),
            "number": page,
        },
    }
    if found:
        answer["_embedded"] = {"events": found}
    return answer
