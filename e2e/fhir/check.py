"""The FHIR view, checked by independent FHIR tooling.

Starts the real vytalcall binary on a fresh SQLite data directory, holds a short visit over
REST (create, answer, end, plus a scheduled visit and a cancelled one), then:

- validates every resource the server returns (CapabilityStatement, Encounter, the
  searchset Bundle, OperationOutcome) with the `fhir.resources` R4B models;
- reads an Encounter and searches Encounters with the `fhirclient` library, as an EHR
  integration would;
- checks that a patient cannot read another patient's Encounter (404) and that a token is
  required.

Usage: python check.py <path to the vytalcall binary>. Prints "N passed, N failed".
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhirclient import client as fhir_client
from fhirclient.models.encounter import Encounter as ClientEncounter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Server, check, finish  # noqa: E402

BIN = sys.argv[1]


def request(base, path, token=None, method="GET", body=None, accept="application/fhir+json"):
    headers = {"Accept": accept}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), json.loads(e.read() or b"null")


def main():
    with Server(BIN, "vytalcall-fhir-", "FHIR Test") as server:
        base = server.base
        provider, patient, stranger, appointment = (str(uuid.uuid4()) for _ in range(4))
        t_provider = server.mint(provider, "provider")
        t_patient = server.mint(patient, "patient")
        t_stranger = server.mint(stranger, "patient")

        _, _, call = request(base, "/webrtc/calls", t_provider, "POST",
                             {"patientId": patient, "type": "video", "appointmentId": appointment})
        assert "id" in call, call
        call_id = call["id"]
        request(base, f"/webrtc/calls/{call_id}/answer", t_patient, "POST", {})
        time.sleep(1.2)
        request(base, f"/webrtc/calls/{call_id}/end", t_provider, "POST", {"reason": "Visit complete"})
        _, _, cancelled = request(base, "/webrtc/calls", t_provider, "POST", {"patientId": patient, "type": "audio"})
        request(base, f"/webrtc/calls/{cancelled['id']}/cancel", t_provider, "POST", {"reason": "Declined"})

        status, ctype, cap = request(base, "/fhir/metadata")
        check("metadata answers 200 as application/fhir+json", status == 200 and ctype.startswith("application/fhir+json"), ctype)
        try:
            CapabilityStatement.parse_obj(cap)
            check("the CapabilityStatement validates (fhir.resources R4B)", True)
        except Exception as e:  # noqa: BLE001 - any validation error is the failure
            check("the CapabilityStatement validates (fhir.resources R4B)", False, str(e))

        status, _, enc = request(base, f"/fhir/Encounter/{call_id}", t_patient)
        check("the patient reads their Encounter", status == 200, str(status))
        try:
            e = Encounter.parse_obj(enc)
            check("the Encounter validates (fhir.resources R4B)", True)
            check("status finished, class VR", e.status == "finished" and e.class_fhir.code == "VR", enc)
            check("subject is the patient", e.subject.reference == f"Patient/{patient}")
            check("the provider takes part", e.participant[0].individual.reference == f"Practitioner/{provider}")
            check("the appointment is referenced", e.appointment[0].reference == f"Appointment/{appointment}")
            check("period and length are set", e.period.start is not None and e.period.end is not None and e.length.unit == "min")
        except Exception as ex:  # noqa: BLE001
            check("the Encounter validates (fhir.resources R4B)", False, str(ex))

        status, _, bundle = request(base, f"/fhir/Encounter?subject=Patient/{patient}&date=ge2000-01-01", t_provider)
        try:
            b = Bundle.parse_obj(bundle)
            check("the search Bundle validates (fhir.resources R4B)", status == 200 and b.type == "searchset")
            statuses = sorted(entry.resource.status for entry in b.entry)
            check("the search finds both visits", statuses == ["cancelled", "finished"], statuses)
        except Exception as ex:  # noqa: BLE001
            check("the search Bundle validates (fhir.resources R4B)", False, str(ex))

        status, _, outcome = request(base, f"/fhir/Encounter/{call_id}", t_stranger)
        check("another patient gets 404", status == 404, str(status))
        try:
            OperationOutcome.parse_obj(outcome)
            check("the refusal is a valid OperationOutcome", True)
        except Exception as ex:  # noqa: BLE001
            check("the refusal is a valid OperationOutcome", False, str(ex))
        status, _, _ = request(base, f"/fhir/Encounter/{call_id}")
        check("no token: 401", status == 401, str(status))
        status, _, _ = request(base, "/fhir/Encounter?_count=0", t_provider)
        check("a bad search parameter: 400", status == 400, str(status))

        smart = fhir_client.FHIRClient(settings={"app_id": "vytalcall-check", "api_base": base + "/fhir"})
        smart.server.session.headers["Authorization"] = f"Bearer {t_provider}"
        read = ClientEncounter.read(call_id, smart.server)
        check("fhirclient reads the Encounter", read.id == call_id and read.status == "finished")
        found = ClientEncounter.where(struct={"subject": f"Patient/{patient}"}).perform_resources(smart.server)
        check("fhirclient searches Encounters", sorted(r.id for r in found) == sorted([call_id, cancelled["id"]]))
    finish("fhir: ")


if __name__ == "__main__":
    main()
