// The household list screen: search, the unsynced count, and creating a household.
package org.doorstep.app

import uniffi.doorstep_mobile.DoorstepStore
import uniffi.doorstep_mobile.HouseholdQuery
import uniffi.doorstep_mobile.HouseholdSummary

/** One row of the list, with the badges the row shows. */
data class HouseholdRow(val summary: HouseholdSummary) {
    val id: String get() = summary.id
    val title: String get() = summary.headName ?: summary.number
    val needsAttention: Boolean get() = summary.errorCount > 0 || summary.conflictCount > 0
    val waitingToSync: Boolean get() = summary.unsyncedChanges > 0
}

/** What the household list shows. */
data class HouseholdListUi(
    val query: String = "",
    val village: String? = null,
    val rows: List<HouseholdRow> = emptyList(),
    val unsyncedChanges: Long = 0,
    val error: UiMessage? = null,
)

/** The household list's state and actions. Plain Kotlin: the Android screen renders `state`. */
class HouseholdListState(private val store: DoorstepStore) {
    @Volatile
    var state: HouseholdListUi = HouseholdListUi()
        private set

    /** Reloads the list with the current filter. */
    fun refresh() {
        val current = state
        val rows = attempt({ state = current.copy(error = it) }) {
            store.listHouseholds(HouseholdQuery(text = current.query.ifBlank { null }, village = current.village))
        } ?: return
        val unsynced = attempt({ state = current.copy(error = it) }) { store.unsyncedChanges() } ?: return
        state = current.copy(rows = rows.map(::HouseholdRow), unsyncedChanges = unsynced, error = null)
    }

    fun search(text: String) {
        state = state.copy(query = text)
        refresh()
    }

    fun filterVillage(village: String?) {
        state = state.copy(village = village)
        refresh()
    }

    /** Creates a household and returns its id, or null with the reason in `state.error`. */
    fun createHousehold(village: String, number: String? = null): String? {
        val id = attempt({ state = state.copy(error = it) }) {
            store.createHousehold(village, number?.ifBlank { null })
        } ?: return null
        refresh()
        return id
    }
}
