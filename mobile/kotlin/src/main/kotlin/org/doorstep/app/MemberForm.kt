// Adding a member, then filling in their fields, with the messages shown beside the inputs.
package org.doorstep.app

import uniffi.doorstep_mobile.DoorstepStore
import uniffi.doorstep_mobile.FieldEdit
import uniffi.doorstep_mobile.ValidationIssue

/** What the member form shows. */
data class MemberUi(
    val name: String = "",
    val idNumber: String = "",
    /** Set once the member is stored. */
    val memberKey: String? = null,
    /** Why the last save was refused; nothing was stored. */
    val error: UiMessage? = null,
    /** What validation says about the member after the last save. */
    val issues: List<ValidationIssue> = emptyList(),
) {
    val saved: Boolean get() = memberKey != null
    val canSave: Boolean get() = name.isNotBlank()
}

/** The member form's state and actions. */
class MemberForm(private val store: DoorstepStore, val householdId: String) {
    @Volatile
    var state: MemberUi = MemberUi()
        private set

    fun editName(name: String) {
        state = state.copy(name = name, error = null)
    }

    fun editIdNumber(idNumber: String) {
        state = state.copy(idNumber = idNumber, error = null)
    }

    /** Adds the member (or finds the one already recorded with this ID number). */
    fun save(): Boolean {
        val s = state
        val key = attempt({ state = s.copy(error = it) }) {
            store.addMember(householdId, s.name, s.idNumber.ifBlank { null })
        } ?: return false
        state = s.copy(memberKey = key, error = null)
        return true
    }

    /** The path of one of this member's fields (`employment.status`). */
    fun path(field: String): String =
        memberPath(checkNotNull(state.memberKey) { "save the member first" }, field)

    /** Saves a page of the member's fields at once: one durable change. */
    fun savePage(values: Map<String, String>): Boolean {
        val edits = values.map { (field, value) -> FieldEdit(path(field), value) }
        val issues = attempt({ state = state.copy(error = it) }) { store.setFields(householdId, edits) }
            ?: return false
        state = state.copy(issues = issues, error = null)
        return true
    }
}
