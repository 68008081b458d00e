"""Writes cosmology.json: reference distances and Einstein radii computed by
astropy for the cosmology backend/sim uses (flat Lambda-CDM, H0 = 70 km/s/Mpc,
Omega_m = 0.3, no radiation). Run with Debian's python3-astropy:

    python3 backend/sim/testdata/make_cosmology.py
"""
import json
import math
import os

from astropy.cosmology import FlatLambdaCDM
import astropy.units as u

cosmo = FlatLambdaCDM(H0=70, Om0=0.3, Tcmb0=0)
c = 299792.458  # km/s
rows = []
for zl, zs, sigma in [(0.3, 1.0, 200), (0.5, 2.0, 250), (0.7, 1.5, 300), (0.9, 3.5, 350), (0.1, 0.6, 180)]:
    dls = cosmo.angular_diameter_distance_z1z2(zl, zs).to_value(u.Mpc)
    ds = cosmo.angular_diameter_distance(zs).to_value(u.Mpc)
    rows.append({
        "zl": zl, "zs": zs, "sigma": sigma,
        "comoving_zl": cosmo.comoving_distance(zl).to_value(u.Mpc),
        "luminosity_zl": cosmo.luminosity_distance(zl).to_value(u.Mpc),
        "angular_zl": cosmo.angular_diameter_distance(zl).to_value(u.Mpc),
        "angular_zl_zs": dls,
        "theta_e": 4 * math.pi * (sigma / c) ** 2 * dls / ds * 180 / math.pi * 3600,
    })
with open(os.path.join(os.path.dirname(__file__), "cosmology.json"), "w") as f:
    json.dump(rows, f, indent=1)
