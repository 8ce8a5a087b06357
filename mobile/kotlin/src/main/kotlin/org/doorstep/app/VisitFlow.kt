// A visit, from arriving at the door to leaving: start, record, finish with an outcome.
package org.doorstep.app

import uniffi.doorstep_mobile.DoorstepStore
import uniffi.doorstep_mobile.GpsPoint
import uniffi.doorstep_mobile.ValidationIssue
import uniffi.doorstep_mobile.visitOutcomes

/** Where a visit is. */
sealed class VisitStep {
    object NotStarted : VisitStep()
    data class Recording(val visitId: String) : VisitStep()
    data class Finished(val visitId: String, val outcome: String, val issues: List<ValidationIssue>) : VisitStep()
}

data class VisitUi(val step: VisitStep = VisitStep.NotStarted, val error: UiMessage? = null)

/** The visit flow's state and actions. */
class VisitFlow(private val store: DoorstepStore, val householdId: String) {
    @Volatile
    var state: VisitUi = VisitUi()
        private set

    /** The outcomes the finish screen offers, labelled. */
    val outcomes: List<Pair<String, UiMessage>> get() = visitOutcomes().map { it.code to it.label.ui() }

    fun start(): Boolean {
        check(state.step is VisitStep.NotStarted) { "the visit has already started" }
        val id = attempt({ state = state.copy(error = it) }) { store.startVisit(householdId) } ?: return false
        state = VisitUi(VisitStep.Recording(id))
        return true
    }

    /** Records a field during the visit; the change is tied to the visit. */
    fun record(path: String, value: String): List<ValidationIssue>? =
        attempt({ state = state.copy(error = it) }) { store.setField(householdId, path, value) }
            ?.also { state = state.copy(error = null) }

    fun finish(outcome: String, notes: String? = null, gps: GpsPoint? = null): Boolean {
        val step = state.step as? VisitStep.Recording ?: error("the visit is not in progress")
        val issues = attempt({ state = state.copy(error = it) }) {
            store.finishVisit(householdId, step.visitId, outcome, notes, gps)
        } ?: return false
        state = VisitUi(VisitStep.Finished(step.visitId, outcome, issues))
        return true
    }
}
