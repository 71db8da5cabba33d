"""Cities of the 50 states and DC, with coordinates and time zones, for generated venues."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    """A city where generated venues stand."""

    name: str
    state: str
    lat: float
    lon: float
    timezone: str
    postal_code: str


# (state, timezone, [(city, lat, lon, postal code), ...]); two or three cities a state, some
# close together so that a radius search around one finds venues in another.
_STATES: list[tuple[str, str, list[tuple[str, float, float, str]]]] = [
    ("AL", "America/Chicago", [("Birmingham", 33.52, -86.80, "35203"), ("Huntsville", 34.73, -86.59, "35801")]),
    ("AK", "America/Anchorage", [("Anchorage", 61.22, -149.90, "99501"), ("Fairbanks", 64.84, -147.72, "99701")]),
    ("AZ", "America/Phoenix", [("Phoenix", 33.45, -112.07, "85004"), ("Tempe", 33.43, -111.94, "85281"), ("Tucson", 32.22, -110.97, "85701")]),
    ("AR", "America/Chicago", [("Little Rock", 34.75, -92.29, "72201"), ("Fayetteville", 36.06, -94.16, "72701")]),
    ("CA", "America/Los_Angeles", [("Los Angeles", 34.05, -118.24, "90012"), ("San Francisco", 37.77, -122.42, "94103"), ("Oakland", 37.80, -122.27, "94612")]),
    ("CO", "America/Denver", [("Denver", 39.74, -104.99, "80202"), ("Boulder", 40.01, -105.27, "80302")]),
    ("CT", "America/New_York", [("Hartford", 41.76, -72.67, "06103"), ("New Haven", 41.31, -72.92, "06510")]),
    ("DE", "America/New_York", [("Wilmington", 39.74, -75.55, "19801"), ("Dover", 39.16, -75.52, "19901")]),
    ("DC", "America/New_York", [("Washington", 38.90, -77.04, "20001")]),
    ("FL", "America/New_York", [("Miami", 25.76, -80.19, "33130"), ("Orlando", 28.54, -81.38, "32801"), ("Tampa", 27.95, -82.46, "33602")]),
    ("GA", "America/New_York", [("Atlanta", 33.75, -84.39, "30303"), ("Athens", 33.96, -83.38, "30601")]),
    ("HI", "Pacific/Honolulu", [("Honolulu", 21.31, -157.86, "96813"), ("Hilo", 19.72, -155.08, "96720")]),
    ("ID", "America/Boise", [("Boise", 43.62, -116.20, "83702"), ("Idaho Falls", 43.49, -112.03, "83402")]),
    ("IL", "America/Chicago", [("Chicago", 41.88, -87.63, "60601"), ("Evanston", 42.05, -87.69, "60201"), ("Springfield", 39.78, -89.65, "62701")]),
    ("IN", "America/Indiana/Indianapolis", [("Indianapolis", 39.77, -86.16, "46204"), ("Bloomington", 39.17, -86.53, "47401")]),
    ("IA", "America/Chicago", [("Des Moines", 41.59, -93.62, "50309"), ("Iowa City", 41.66, -91.53, "52240")]),
    ("KS", "America/Chicago", [("Wichita", 37.69, -97.34, "67202"), ("Lawrence", 38.97, -95.24, "66044")]),
    ("KY", "America/New_York", [("Louisville", 38.25, -85.76, "40202"), ("Lexington", 38.04, -84.50, "40507")]),
    ("LA", "America/Chicago", [("New Orleans", 29.95, -90.07, "70112"), ("Baton Rouge", 30.45, -91.19, "70801")]),
    ("ME", "America/New_York", [("Portland", 43.66, -70.26, "04101"), ("Bangor", 44.80, -68.77, "04401")]),
    ("MD", "America/New_York", [("Baltimore", 39.29, -76.61, "21202"), ("Silver Spring", 38.99, -77.03, "20910")]),
    ("MA", "America/New_York", [("Boston", 42.36, -71.06, "02108"), ("Cambridge", 42.37, -71.11, "02139"), ("Worcester", 42.26, -71.80, "01608")]),
    ("MI", "America/Detroit", [("Detroit", 42.33, -83.05, "48226"), ("Ann Arbor", 42.28, -83.74, "48104"), ("Grand Rapids", 42.96, -85.67, "49503")]),
    ("MN", "America/Chicago", [("Minneapolis", 44.98, -93.27, "55401"), ("Saint Paul", 44.95, -93.09, "55102")]),
    ("MS", "America/Chicago", [("Jackson", 32.30, -90.18, "39201"), ("Oxford", 34.37, -89.52, "38655")]),
    ("MO", "America/Chicago", [("Saint Louis", 38.63, -90.20, "63101"), ("Kansas City", 39.10, -94.58, "64105")]),
    ("MT", "America/Denver", [("Missoula", 46.87, -113.99, "59802"), ("Bozeman", 45.68, -111.04, "59715")]),
    ("NE", "America/Chicago", [("Omaha", 41.26, -95.93, "68102"), ("Lincoln", 40.81, -96.68, "68508")]),
    ("NV", "America/Los_Angeles", [("Las Vegas", 36.17, -115.14, "89101"), ("Reno", 39.53, -119.81, "89501")]),
    ("NH", "America/New_York", [("Manchester", 42.99, -71.46, "03101"), ("Portsmouth", 43.07, -70.76, "03801")]),
    ("NJ", "America/New_York", [("Newark", 40.74, -74.17, "07102"), ("Hoboken", 40.74, -74.03, "07030"), ("Asbury Park", 40.22, -74.01, "07712")]),
    ("NM", "America/Denver", [("Albuquerque", 35.08, -106.65, "87102"), ("Santa Fe", 35.69, -105.94, "87501")]),
    ("NY", "America/New_York", [("New York", 40.71, -74.01, "10007"), ("Brooklyn", 40.68, -73.94, "11216"), ("Buffalo", 42.89, -78.88, "14202")]),
    ("NC", "America/New_York", [("Raleigh", 35.78, -78.64, "27601"), ("Durham", 35.99, -78.90, "27701"), ("Asheville", 35.60, -82.55, "28801")]),
    ("ND", "America/Chicago", [("Fargo", 46.88, -96.79, "58102"), ("Bismarck", 46.81, -100.78, "58501")]),
    ("OH", "America/New_York", [("Columbus", 39.96, -83.00, "43215"), ("Cleveland", 41.50, -81.69, "44113"), ("Cincinnati", 39.10, -84.51, "45202")]),
    ("OK", "America/Chicago", [("Oklahoma City", 35.47, -97.52, "73102"), ("Tulsa", 36.15, -95.99, "74103")]),
    ("OR", "America/Los_Angeles", [("Portland", 45.52, -122.68, "97204"), ("Eugene", 44.05, -123.09, "97401")]),
    ("PA", "America/New_York", [("Philadelphia", 39.95, -75.17, "19107"), ("Pittsburgh", 40.44, -80.00, "15222")]),
    ("RI", "America/New_York", [("Providence", 41.82, -71.41, "02903"), ("Newport", 41.49, -71.31, "02840")]),
    ("SC", "America/New_York", [("Charleston", 32.78, -79.93, "29401"), ("Columbia", 34.00, -81.03, "29201")]),
    ("SD", "America/Chicago", [("Sioux Falls", 43.54, -96.73, "57104"), ("Rapid City", 44.08, -103.23, "57701")]),
    ("TN", "America/Chicago", [("Nashville", 36.16, -86.78, "37203"), ("Memphis", 35.15, -90.05, "38103")]),
    ("TX", "America/Chicago", [("Austin", 30.27, -97.74, "78701"), ("Houston", 29.76, -95.37, "77002"), ("Dallas", 32.78, -96.80, "75201")]),
    ("UT", "America/Denver", [("Salt Lake City", 40.76, -111.89, "84101"), ("Provo", 40.23, -111.66, "84601")]),
    ("VT", "America/New_York", [("Burlington", 44.48, -73.21, "05401"), ("Montpelier", 44.26, -72.58, "05602")]),
    ("VA", "America/New_York", [("Richmond", 37.54, -77.44, "23219"), ("Arlington", 38.88, -77.10, "22201"), ("Norfolk", 36.85, -76.29, "23510")]),
    ("WA", "America/Los_Angeles", [("Seattle", 47.61, -122.33, "98101"), ("Tacoma", 47.25, -122.44, "98402"), ("Spokane", 47.66, -117.43, "99201")]),
    ("WV", "America/New_York", [("Charleston", 38.35, -81.63, "25301"), ("Morgantown", 39.63, -79.96, "26505")]),
    ("WI", "America/Chicago", [("Milwaukee", 43.04, -87.91, "53202"), ("Madison", 43.07, -89.40, "53703")]),
    ("WY", "America/Denver", [("Cheyenne", 41.14, -104.82, "82001"), ("Jackson", 43.48, -110.76, "83001")]),
]  # fmt: skip

CITIES: list[City] = [
    City(name, state, lat, lon, timezone, postal)
    for state, timezone, cities in _STATES
    for name, lat, lon, postal in cities
]

STATE_CODES: list[str] = [state for state, _, _ in _STATES]
