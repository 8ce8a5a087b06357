"""The phone core through its generated Python bindings, against the real doorstep server:
the same volunteer's day as the Kotlin suite, the typed errors, and a cancelled sync that
resumes. Run by scripts/mobile-test (it builds the library and sets DOORSTEP_BIN)."""

import os
import subprocess
import tempfile
import threading
import unittest

import doorstep_mobile as dm

VILLAGE = "141124100201"


def has_chinese(text):
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


class Server:
    """A `doorstep serve` on a free port with its own SQLite data directory."""

    def __init__(self):
        self.binary = os.environ.get("DOORSTEP_BIN")
        if not self.binary:
            raise RuntimeError("DOORSTEP_BIN is not set: run the suite through scripts/mobile-test")
        self._dir = tempfile.TemporaryDirectory(prefix="doorstep-server-")
        self.env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        self.env["RUST_LOG"] = "warn"
        self.process = subprocess.Popen(
            [self.binary, "--data", self._dir.name, "serve", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, env=self.env, text=True)
        line = self.process.stdout.readline().strip()
        prefix = "doorstep listening on "
        if not line.startswith(prefix):
            self.stop()
            raise RuntimeError(f"unexpected first line from doorstep serve: {line!r}")
        self.url = line[len(prefix):]
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    def add_device(self):
        out = subprocess.run(
            [self.binary, "--data", self._dir.name, "device", "add", "--village", VILLAGE],
            env=self.env, check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def phone(self, name):
        store = dm.DoorstepStore.open(tempfile.mkdtemp(prefix=f"doorstep-{name}-"))
        store.set_profile(dm.DeviceProfile(device=name, volunteer=f"volunteer of {name}"))
        store.init(self.url, self.add_device())
        return store

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        self.process.stdout.close()
        self._dir.cleanup()


class Recorder(dm.SyncListener):
    """Keeps every progress report; optionally cancels after a number of rounds."""

    def __init__(self, cancel_after=None):
        self.progress = []
        self.outcome = None
        self.task = None
        self.cancel_after = cancel_after
        self.ready = threading.Event()

    def on_progress(self, progress):
        self.ready.wait(10)
        self.progress.append(progress)
        if self.cancel_after is not None and len(self.progress) == self.cancel_after:
            self.task.cancel()

    def on_finished(self, outcome):
        self.outcome = outcome


def sync(store, options=None, listener=None):
    listener = listener or Recorder()
    listener.task = store.start_sync(options or dm.SyncOptions(), listener)
    listener.ready.set()
    return listener.task.wait(), listener


class VolunteerDay(unittest.TestCase):
    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.stop)

    def test_a_volunteers_day_from_setup_to_a_conflict_another_phone_caused(self):
        store = dm.DoorstepStore.open(tempfile.mkdtemp(prefix="doorstep-li-na-"))
        self.assertFalse(store.is_connected())
        store.set_profile(dm.DeviceProfile(device="phone of 李娜", volunteer="李娜"))
        store.init(self.server.url, self.server.add_device())
        self.assertTrue(store.is_connected())

        # Offline visits.
        households = []
        for n, name in enumerate(["刘伟", "王芳", "张强"], start=1):
            household = store.create_household(VILLAGE, f"14112410020100{n}")
            visit = store.start_visit(household)
            key = store.add_member(household, name, None)
            store.set_fields(household, [
                dm.FieldEdit(path=f"members.{key}.relation", value="01"),
                dm.FieldEdit(path=f"members.{key}.employment.place", value="太原"),
            ])
            store.finish_visit(household, visit, "met", "在家", dm.GpsPoint(lat=37.95, lon=110.98))
            households.append(household)
        self.assertEqual(3, len(store.list_households(dm.HouseholdQuery())))
        self.assertGreater(store.unsynced_changes(), 0)
        self.assertEqual([households[1]], [h.id for h in store.search("王芳")])

        # What a household read carries: each field's name within its record, the value as
        # typed, and a readable form only where it reads differently (a code's label).
        member = store.household(households[0]).members[0]
        fields = {f.name: f for f in member.fields}
        self.assertEqual("太原", fields["employment.place"].value)
        self.assertIsNone(fields["employment.place"].readable)
        self.assertEqual("01", fields["relation"].value)
        self.assertIn("户主", fields["relation"].readable.zh)

        # A validation error, in Chinese.
        head = member.key
        months = f"members.{head}.employment.months_worked"
        issues = store.set_field(households[0], months, "15")
        issue = next(i for i in issues if i.path == months)
        self.assertEqual(dm.Severity.ERROR, issue.severity)
        self.assertIn("本年务工月数", issue.message.zh)
        self.assertIn("Months worked", issue.message.en)
        self.assertEqual([], [i for i in store.set_field(households[0], months, "8") if i.path == months])

        # Sync, watching the progress.
        report, listener = sync(store)
        self.assertTrue(listener.progress)
        self.assertEqual(3, listener.progress[-1].households_uploaded)
        self.assertEqual(0, report.unsynced_changes)
        self.assertIsInstance(listener.outcome, dm.SyncOutcome.COMPLETED)

        # Another phone edits the same field concurrently: a conflict with both candidates.
        other = self.server.phone("phone of 王军")
        sync(other)
        place = f"members.{head}.employment.place"
        other.set_field(households[0], place, "吕梁")
        store.set_field(households[0], place, "北京")
        sync(other)
        sync(store)
        conflict, = store.household(households[0]).conflicts
        self.assertEqual(place, conflict.path)
        self.assertEqual({"北京", "吕梁"}, {c.value for c in conflict.candidates})
        self.assertEqual({"phone of 李娜", "phone of 王军"}, {c.device for c in conflict.candidates})
        store.set_field(households[0], place, "吕梁")
        self.assertEqual([], store.household(households[0]).conflicts)


class Boundary(unittest.TestCase):
    def test_an_invalid_id_number_raises_a_typed_error_with_both_messages(self):
        store = dm.DoorstepStore.open(tempfile.mkdtemp(prefix="doorstep-errors-"))
        household = store.create_household(VILLAGE, None)
        with self.assertRaises(dm.DoorstepError.InvalidInput) as caught:
            store.add_member(household, "刘伟", "110105194912310021")
        self.assertTrue(has_chinese(caught.exception.zh), caught.exception.zh)
        self.assertIn("check", caught.exception.en.lower())
        self.assertIsInstance(caught.exception, dm.DoorstepError)
        with self.assertRaises(dm.DoorstepError.NotFound):
            store.household("0123456789abcdef0123456789abcdef")
        with self.assertRaises(dm.DoorstepError.NotConnected):
            store.start_sync(dm.SyncOptions(), Recorder()).wait()

    def test_a_sync_cancelled_halfway_resumes_to_completion(self):
        server = Server()
        self.addCleanup(server.stop)
        first = server.phone("first")
        ids = []
        for n in range(1, 13):
            household = first.create_household(VILLAGE, f"14112410020100{n:02}")
            first.set_field(household, "household.address", f"{n} 号")
            ids.append(household)
        sync(first)

        second = server.phone("second")
        listener = Recorder(cancel_after=2)
        with self.assertRaises(dm.DoorstepError.Cancelled):
            sync(second, dm.SyncOptions(page_bytes=1), listener)
        self.assertEqual(2, len(listener.progress))
        halfway = len(second.list_households(dm.HouseholdQuery()))
        self.assertTrue(0 < halfway < len(ids), f"{halfway} of {len(ids)}")

        report, _ = sync(second)
        self.assertGreater(report.rounds, 0)
        self.assertEqual(set(ids), {h.id for h in second.list_households(dm.HouseholdQuery())})
        for n, household in enumerate(ids, start=1):
            address, = [f.value for f in second.household(household).fields if f.name == "address"]
            self.assertEqual(f"{n} 号", address)


if __name__ == "__main__":
    unittest.main()
