"""Writes wcs.json: FITS WCS headers and the sky positions astropy gives for
some of their pixels, the reference backend/sky is tested against. Run with
Debian's python3-astropy:

    python3 backend/sky/testdata/make_wcs.py

Pixel coordinates are FITS 1-based (the centre of the first pixel is 1, 1).
"""
import json
import os

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
import astropy.units as u


def header(cards):
    h = fits.Header()
    h["NAXIS"] = 2
    h["NAXIS1"] = 64
    h["NAXIS2"] = 64
    for k, v in cards.items():
        h[k] = v
    return h


def tan(ra, dec, proj="TAN", scale=0.168, rot=0.0, **extra):
    c, s = np.cos(np.radians(rot)), np.sin(np.radians(rot))
    d = scale / 3600
    cards = {"CTYPE1": "RA---" + proj, "CTYPE2": "DEC--" + proj, "CRVAL1": ra, "CRVAL2": dec,
             "CRPIX1": 32.5, "CRPIX2": 31.0, "CUNIT1": "deg", "CUNIT2": "deg",
             "CD1_1": -d * c, "CD1_2": d * s, "CD2_1": d * s, "CD2_2": d * c, "RADESYS": "ICRS"}
    cards.update(extra)
    return cards


cases = {
    "tan": tan(150.1163, 2.2058),
    "tan rotated": tan(35.0, -4.5, rot=33.0),
    "tan near the pole": tan(12.0, 89.9, scale=2.0),
    "tan across ra 0": tan(0.0005, 1.0, scale=5.0),
    "sin": tan(200.0, 40.0, proj="SIN", scale=0.262),
    "arc": tan(280.0, -30.0, proj="ARC", scale=1.0),
    "stg": tan(10.0, 60.0, proj="STG", scale=3.0),
    "zea": tan(320.0, -70.0, proj="ZEA", scale=10.0),
    "car": tan(45.0, 20.0, proj="CAR", scale=1.0),
    "pc and cdelt": {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 210.5, "CRVAL2": 54.3,
                     "CRPIX1": 20.0, "CRPIX2": 40.0, "CDELT1": -7.28e-5, "CDELT2": 7.28e-5,
                     "PC1_1": 0.9, "PC1_2": 0.1, "PC2_1": -0.1, "PC2_2": 0.95},
    "tan with sip": dict(tan(150.0, 2.0, proj="TAN-SIP"), A_ORDER=2, B_ORDER=2,
                         A_2_0=2e-5, A_1_1=-1e-5, A_0_2=3e-6, B_2_0=-4e-6, B_1_1=1e-5, B_0_2=2e-5),
    "lonpole": tan(100.0, 10.0, LONPOLE=170.0),
    "galactic": {"CTYPE1": "GLON-TAN", "CTYPE2": "GLAT-TAN", "CRVAL1": 120.0, "CRVAL2": 45.0,
                 "CRPIX1": 32.5, "CRPIX2": 32.5, "CDELT1": -4.7e-5, "CDELT2": 4.7e-5},
    "fk5 j2000": tan(150.1163, 2.2058, RADESYS="FK5", EQUINOX=2000.0),
}

pixels = [[32.5, 32.5], [1, 1], [64, 64], [10.25, 50.75]]
out = []
for name, cards in cases.items():
    h = header(cards)
    w = WCS(h)
    world = w.all_pix2world(np.array(pixels), 1)
    if cards["CTYPE1"].startswith("GLON"):
        c = SkyCoord(world[:, 0] * u.deg, world[:, 1] * u.deg, frame="galactic").icrs
        world = np.stack([c.ra.deg, c.dec.deg], axis=1)
    elif cards.get("RADESYS") == "FK5":
        c = SkyCoord(world[:, 0] * u.deg, world[:, 1] * u.deg, frame="fk5", equinox="J2000").icrs
        world = np.stack([c.ra.deg, c.dec.deg], axis=1)
    out.append({"name": name, "header": dict(h), "pixels": pixels,
                "radec": [[float(a), float(b)] for a, b in world]})

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "wcs.json"), "w") as f:
    json.dump(out, f, indent=1)
