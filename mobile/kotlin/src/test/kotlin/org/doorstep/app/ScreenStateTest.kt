// The screens' state logic on its own store, no server: what each screen shows after each
// action, and what it shows when the core refuses one.
package org.doorstep.app

import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import uniffi.doorstep_mobile.DoorstepStore
import uniffi.doorstep_mobile.InputKind
import uniffi.doorstep_mobile.RecordKind
import uniffi.doorstep_mobile.fieldCatalog

object ScreenStateTest {
    val tests = listOf(
        test("test_household_list_searches_by_name_and_filters_by_village") { householdList() },
        test("test_household_list_shows_why_a_household_could_not_be_created") { householdListError() },
        test("test_member_form_keeps_the_input_and_shows_the_reason_when_the_id_number_is_wrong") { memberFormError() },
        test("test_member_form_adds_the_same_person_once") { memberFormSamePerson() },
        test("test_visit_flow_goes_from_not_started_to_finished_and_refuses_an_unknown_outcome") { visitFlow() },
        test("test_household_screen_shows_the_fields_members_and_visits_it_was_given") { householdScreen() },
        test("test_sync_screen_without_a_server_asks_for_set_up") { syncWithoutServer() },
        test("test_the_catalog_labels_every_field_and_offers_codes") { catalog() },
    )

    private fun store(): DoorstepStore = DoorstepStore.open(TestServer.tempDir("screens").path)

    private fun householdList() {
        val store = store()
        val list = HouseholdListState(store)
        list.refresh()
        assertEquals(HouseholdListUi(), list.state)
        val liu = list.createHousehold(VILLAGE, "A-1")!!
        val wang = list.createHousehold(VILLAGE, "A-2")!!
        list.createHousehold("141124100202", "B-1")!!
        MemberForm(store, liu).apply { editName("刘伟"); assertTrue(save()) }
        MemberForm(store, wang).apply { editName("王芳"); assertTrue(save()) }
        list.refresh()
        assertEquals(3, list.state.rows.size)
        list.search("刘")
        assertEquals(listOf(liu), list.state.rows.map { it.id })
        assertEquals("刘", list.state.query)
        list.search("")
        list.filterVillage("141124100202")
        assertEquals(listOf("B-1"), list.state.rows.map { it.title })
        assertNull(list.state.error)
    }

    private fun householdListError() {
        val list = HouseholdListState(store())
        assertNull(list.createHousehold("1411", null))
        val error = assertNotNull(list.state.error)
        assertTrue(hasChinese(error.zh), error.zh)
        // A later success clears it.
        assertNotNull(list.createHousehold(VILLAGE, null))
        assertNull(list.state.error)
        assertEquals(1, list.state.rows.size)
    }

    private fun memberFormError() {
        val store = store()
        val household = store.createHousehold(VILLAGE, null)
        val form = MemberForm(store, household)
        form.editName("刘伟")
        form.editIdNumber("110105194912310021")
        assertFalse(form.save())
        val error = assertNotNull(form.state.error)
        assertTrue(hasChinese(error.zh), error.zh)
        assertFalse(form.state.saved)
        assertEquals("110105194912310021", form.state.idNumber, "the input is kept for correcting")
        form.editIdNumber("11010519491231002X")
        assertNull(form.state.error, "editing clears the message")
        assertTrue(form.save())
        val member = store.household(household).members.single()
        assertEquals(form.state.memberKey, member.key)
        assertEquals("2", member.fields.single { it.name == "sex" }.value)
        assertEquals("1949-12-31", member.fields.single { it.name == "birth_date" }.value)
    }

    private fun memberFormSamePerson() {
        val store = store()
        val household = store.createHousehold(VILLAGE, null)
        val keys = listOf("刘伟", "刘 伟").map { name ->
            MemberForm(store, household).run {
                editName(name)
                editIdNumber("11010519491231002x")
                assertTrue(save())
                state.memberKey
            }
        }
        assertEquals(keys[0], keys[1])
        assertEquals(listOf("刘伟"), store.household(household).members.map { it.name })
    }

    private fun visitFlow() {
        val store = store()
        val household = store.createHousehold(VILLAGE, null)
        val flow = HouseholdScreen(store, household).visitFlow()
        assertIs<VisitStep.NotStarted>(flow.state.step)
        assertTrue(flow.outcomes.any { it.first == "met" && hasChinese(it.second.zh) })
        assertTrue(flow.start())
        val recording = assertIs<VisitStep.Recording>(flow.state.step)
        assertNotNull(flow.record(householdPath("address"), "后沟村 3 号"))
        assertFalse(flow.finish("maybe"))
        assertTrue(hasChinese(assertNotNull(flow.state.error).zh))
        assertIs<VisitStep.Recording>(flow.state.step, "a refused outcome leaves the visit open")
        assertTrue(flow.finish("not_home", notes = "下次再来"))
        val finished = assertIs<VisitStep.Finished>(flow.state.step)
        assertEquals(recording.visitId, finished.visitId)
        assertNull(flow.state.error)
        val visit = store.household(household).visits.single()
        assertEquals(recording.visitId, visit.id)
        assertEquals("not_home", visit.outcome)
        assertEquals("下次再来", visit.notes)
        assertNotNull(visit.startedAt)
        assertNotNull(visit.finishedAt)
        // The visit's fields, by the paths built from it, as the household screen shows them.
        val shown = HouseholdUi(household = store.household(household))
        assertEquals("not_home", shown.value(visit.path("outcome")))
        assertEquals("后沟村 3 号", shown.value(householdPath("address")))
        val outcome = visit.fields.single { it.name == "outcome" }
        assertTrue(hasChinese(assertNotNull(outcome.readable).zh), "an outcome code reads with its label")
    }

    private fun householdScreen() {
        val store = store()
        val household = store.createHousehold(VILLAGE, "1411241002010007")
        val screen = HouseholdScreen(store, household)
        screen.load()
        val shown = assertNotNull(screen.state.household)
        assertEquals("1411241002010007", shown.number)
        assertEquals(VILLAGE, shown.village)
        assertTrue(shown.unsyncedChanges > 0)
        val member = screen.memberForm().apply { editName("刘伟"); assertTrue(save()) }
        assertTrue(screen.setField(member.path("relation"), "01"))
        assertTrue(screen.setField("household.poverty_attribute", "01"))
        assertEquals("刘伟", screen.state.household!!.headName)
        val attribute = screen.state.household!!.fields.single { it.name == "poverty_attribute" }
        assertEquals("01", attribute.value)
        val label = assertNotNull(attribute.readable, "codes are shown with their label")
        assertTrue(hasChinese(label.zh), "codes are shown with their label: ${label.zh}")
        // A value that reads as typed carries no second form; the UI shows the value.
        val name = screen.state.household!!.members.single().fields.single { it.name == "name" }
        assertEquals("刘伟", name.value)
        assertNull(name.readable)
        // Paths are built from the record and the name, as setField takes them.
        val shownMember = screen.state.household!!.members.single()
        assertEquals(member.path("relation"), shownMember.path("relation"))
        assertEquals("01", screen.state.value(shownMember.path("relation")))
        assertEquals("01", screen.state.value(householdPath("poverty_attribute")))
        assertNull(screen.state.value(householdPath("address")))
        // A refused edit keeps what was shown and adds the reason.
        assertFalse(screen.setField("members.nobody.name", "x"))
        assertTrue(hasChinese(assertNotNull(screen.state.error).zh))
        assertEquals("刘伟", screen.state.household!!.headName)
        screen.load()
        assertNull(screen.state.error)
    }

    private fun syncWithoutServer() {
        val sync = SyncState(store())
        assertTrue(sync.start())
        val failed = assertIs<SyncUi.Failed>(sync.await())
        assertTrue(hasChinese(failed.message.zh), failed.message.zh)
        assertFalse(failed.cancelled)
    }

    private fun catalog() {
        val catalog = fieldCatalog()
        assertTrue(catalog.all { it.label.zh.isNotBlank() && it.label.en.isNotBlank() })
        val status = catalog.single { it.record == RecordKind.MEMBER && it.name == "employment.status" }
        val kind = assertIs<InputKind.Code>(status.kind)
        assertTrue(kind.choices.any { it.code == "01" && hasChinese(it.label.zh) })
        assertTrue(catalog.any { it.record == RecordKind.HOUSEHOLD && it.system })
    }
}
