// The household screen: its fields, members, visits, what validation says, and conflicts.
package org.doorstep.app

import uniffi.doorstep_mobile.Candidate
import uniffi.doorstep_mobile.DoorstepStore
import uniffi.doorstep_mobile.FieldConflict
import uniffi.doorstep_mobile.Household
import uniffi.doorstep_mobile.Severity
import uniffi.doorstep_mobile.ValidationIssue

/** What the household screen shows. */
data class HouseholdUi(
    val household: Household? = null,
    val error: UiMessage? = null,
) {
    val issues: List<ValidationIssue> get() = household?.issues.orEmpty()
    val errors: List<ValidationIssue> get() = issues.filter { it.severity == Severity.ERROR }
    val warnings: List<ValidationIssue> get() = issues.filter { it.severity == Severity.WARNING }
    val conflicts: List<FieldConflict> get() = household?.conflicts.orEmpty()

    /** The messages to show under one field. */
    fun issuesAt(path: String): List<UiMessage> = issues.filter { it.path == path }.map { it.message.ui() }

    /** The value shown in a field, as typed, found by its path (see FieldPaths.kt). */
    fun value(path: String): String? =
        household?.let { h ->
            h.fields.firstOrNull { householdPath(it.name) == path }?.value
                ?: h.members.firstNotNullOfOrNull { m -> m.fields.firstOrNull { m.path(it.name) == path }?.value }
                ?: h.visits.firstNotNullOfOrNull { v -> v.fields.firstOrNull { v.path(it.name) == path }?.value }
        }
}

/** The household screen's state and actions. */
class HouseholdScreen(private val store: DoorstepStore, val householdId: String) {
    @Volatile
    var state: HouseholdUi = HouseholdUi()
        private set

    fun load() {
        val household = attempt({ state = state.copy(error = it) }) { store.household(householdId) } ?: return
        state = HouseholdUi(household = household)
    }

    /** Saves one field; the screen then shows the household as stored, issues included. */
    fun setField(path: String, value: String): Boolean {
        attempt({ state = state.copy(error = it) }) { store.setField(householdId, path, value) } ?: return false
        load()
        return true
    }

    /** Settles a conflict on one candidate: writing the value is what choosing means. */
    fun resolve(conflict: FieldConflict, choice: Candidate): Boolean = setField(conflict.path, choice.value)

    fun memberForm(): MemberForm = MemberForm(store, householdId)

    fun visitFlow(): VisitFlow = VisitFlow(store, householdId)
}
