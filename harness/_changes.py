"""What one run changed in the cluster, and undoing it: last in, first out, every undo read back.

The policies under test go in first and come out last; the faults go in after them and come out
first. On an object that a policy of the same run also changed, a fault's undo takes out only the
run's routes, and the policy's restore then puts the whole object back (with the marks on it until
then, so ``harness cleanup`` finds it whatever happens in between). An undo counts as done only once
the object read back from the API shows it; anything else stays pending, so an undo re-entered on
the way out (an exception, a signal) finishes exactly what is left. The run's last word about the
cluster is what the API shows, with the command that removes anything still there.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import BackendError, HarnessError, NotFoundError
from harness.mesh import AppliedFault, MeshBackend, RestoreResult, marked_objects, restore, what_is_left
from harness.report import Change


@dataclass
class _Entry:
    applied: AppliedFault
    change: Change
    done: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return self.applied.kind, self.applied.namespace, self.applied.name

    def label(self) -> str:
        return f"{self.applied.kind} {self.applied.namespace}/{self.applied.name}"


class ChangeLedger:
    """The run's writes in order, and their undo; conflicts and leftovers go into ``notes``."""

    def __init__(self, backend: MeshBackend, run_id: str, *, finish_command: str, notes: list[str]) -> None:
        self._backend = backend
        self._run_id = run_id
        self.finish_command = finish_command
        self._notes = notes
        self._policies: list[_Entry] = []
        self._faults: list[_Entry] = []
        self._stumbled = False  # an undo was reported unfinished: the closing word says how it ended

    def policy_applied(self, applied: AppliedFault) -> Change:
        return self._record(self._policies, applied)

    def fault_injected(self, applied: AppliedFault) -> Change:
        return self._record(self._faults, applied)

    @property
    def changed_anything(self) -> bool:
        return bool(self._policies or self._faults)

    @property
    def faults_out(self) -> bool:
        return all(e.done for e in self._faults)

    def take_faults_out(self) -> list[AppliedFault]:
        """Take every fault out (the run's policies stay); returns the objects as written, to wait for the proxies.

        Raises HarnessError naming what is left, read back from the API, and the command that removes it.
        """
        written = []
        for entry in reversed([e for e in self._faults if not e.done]):
            outcome = self._undo(entry, fault_only=True)
            if outcome is not None and outcome.written is not None:
                written.append(AppliedFault(entry.applied.namespace, entry.applied.name, self._run_id, False, None,
                                            outcome.written, entry.applied.kind))
        self._check_done(self._faults, "take the fault out of", policy_stays=True)
        return written

    def restore_policies(self) -> None:
        """Put every policy object back as it was before the run (after the faults: first in, last out)."""
        for entry in reversed([e for e in self._policies if not e.done]):
            self._undo(entry, fault_only=False)
        self._check_done(self._policies, "restore the policy on")

    def _left(self, entries: list[_Entry], *, policy_stays: bool = False) -> list[str]:
        """Each object with an undo not yet done, read back: what of the run it still holds (an undo with
        nothing left counts as done; ``policy_stays``: only faults count, the run's policies come out later)."""
        pending = [e for e in entries if not e.done]
        left: dict[tuple[str, str, str], str] = {}
        for entry in pending:
            if entry.key in left:
                continue
            try:
                what = what_is_left(self._backend, *entry.key, self._run_id, policy_stays=policy_stays)
            except BackendError as exc:
                what = f"unknown, it could not be read back ({exc.message}); the last attempt said: {entry.change.restore}"
            if what:
                left[entry.key] = f"{entry.label()}: {what}"
        gone = "the fault" if policy_stays else f"run {self._run_id}"
        for entry in pending:
            if entry.key not in left:  # e.g. a fault that went out with the policy restored on the same object
                entry.done = True
                entry.change.restore = f"nothing of {gone} left (read back)"
                self._read_final(entry)
        return list(left.values())

    def closing_word(self, namespaces: set[str]) -> tuple[bool, str]:
        """Whether the cluster holds nothing of the run any more, and that said in a sentence.

        Read back from the API: the objects of undos not done, and every object in ``namespaces``
        carrying the run's marks (a write whose answer was lost is in the cluster but not in the ledger).
        """
        try:
            left = self._left([*self._policies, *self._faults])
            known = {e.key for e in self._policies + self._faults}
            for namespace in sorted(namespaces):
                for obj in marked_objects(self._backend, namespace, expired_only=False, run_id=self._run_id):
                    key = (obj["kind"], namespace, obj["metadata"]["name"])
                    if key not in known and (what := what_is_left(self._backend, *key, self._run_id)):
                        left.append(f"{key[0]} {namespace}/{key[2]}: {what}")
        except BackendError as exc:
            return False, (f"could not read back what run {self._run_id} left in the cluster ({exc.message})\n"
                           f"  check with: {self.finish_command} --dry-run")
        if left:
            return False, (f"LEFT IN THE CLUSTER by run {self._run_id}: {'; '.join(left)}\n"
                           f"  finish it with: {self.finish_command}")
        if not self.changed_anything:
            return True, "nothing had been changed in the cluster"
        if self._stumbled:
            return True, "on a later attempt every change was reverted (read back from the API): nothing is left to finish"
        return True, "every change was reverted (read back from the API)"

    def _record(self, entries: list[_Entry], applied: AppliedFault) -> Change:
        change = Change(applied.namespace, applied.name, applied.created, applied.before, applied.after,
                        kind=applied.kind)
        entries.append(_Entry(applied, change))
        return change

    def _undo(self, entry: _Entry, *, fault_only: bool) -> RestoreResult | None:
        applied = entry.applied
        try:
            outcome = restore(self._backend, applied.namespace, applied.name, self._run_id, kind=applied.kind,
                              fault_only=fault_only)
        except BackendError as exc:
            entry.change.restore = f"FAILED: {exc.message}"
            return None
        entry.done = outcome.is_done
        entry.change.restore = outcome.action if outcome.is_done else f"{outcome.action}: {outcome.leftover}"
        if outcome.conflict:
            self._notes.append(f"{entry.label()}: {outcome.detail}")
        if outcome.is_done:
            self._read_final(entry)
        return outcome

    def _read_final(self, entry: _Entry) -> None:
        """Keep the object as the API shows it after its undo: the report's proof of revert (None: deleted)."""
        try:
            entry.change.final = self._backend.get_object(*entry.key)
        except NotFoundError:
            entry.change.final = None
        except BackendError as exc:  # the undo itself was read back already; only the report's copy is missing
            self._notes.append(f"{entry.label()}: reverted, but not read back for the report ({exc.message})")
            return
        entry.change.read_back = True

    def _check_done(self, entries: list[_Entry], what: str, *, policy_stays: bool = False) -> None:
        """Raise, naming what is left and the command that removes it, unless every undo is done (read back)."""
        if all(e.done for e in entries):
            return
        left = self._left(entries, policy_stays=policy_stays)
        if left:
            self._stumbled = True
            raise HarnessError(f"could not {what} {len(left)} object(s); left in the cluster: {'; '.join(left)}",
                               hint=f"finish it with: {self.finish_command}")
