"""Reads table.vot, the document TestAstropyReadsIt writes with -update,
with astropy.io.votable (pedantic: any departure from the standard is an
error) and writes what astropy sees to table.astropy.json: the resource's
description and INFO, each field's name, datatype, unit, UCD and
description, every row (null for a masked cell) and any warning astropy
raised (the test wants none). Run with Debian's python3-astropy:

    go test ./backend/votable -update
    python3 backend/votable/testdata/read_votable.py
"""
import json
import os
import warnings

import numpy as np
from astropy.io.votable import parse

here = os.path.dirname(os.path.abspath(__file__))

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    doc = parse(os.path.join(here, "table.vot"), verify="exception")
    resource = doc.resources[0]
    table = resource.tables[0]
    fields = [{
        "name": f.name,
        "datatype": f.datatype,
        "unit": str(f.unit) if f.unit is not None else "",
        "ucd": f.ucd or "",
        "description": f.description or "",
    } for f in table.fields]
    rows = []
    for r in table.array:
        out = []
        for v in r:
            if np.ma.is_masked(v):
                out.append(None)
            elif isinstance(v, (np.integer, int)):
                out.append(int(v))
            elif isinstance(v, (np.floating, float)):
                out.append(float(v))
            else:
                out.append(str(v))
        rows.append(out)

with open(os.path.join(here, "table.astropy.json"), "w") as f:
    json.dump({"description": resource.description or "", "info": {i.name: i.value for i in resource.infos},
               "fields": fields, "rows": rows, "warnings": [str(w.message) for w in caught]}, f, indent=1, ensure_ascii=False)
    f.write("\n")
