// A volunteer's day, through the screens' state and the real bindings, against the real
// server: set up, visit households offline, meet a validation error, sync while watching
// the progress, and find the conflict another phone caused.
package org.doorstep.app

import java.util.Collections
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import uniffi.doorstep_mobile.DeviceProfile
import uniffi.doorstep_mobile.DoorstepStore
import uniffi.doorstep_mobile.GpsPoint
import uniffi.doorstep_mobile.HouseholdQuery
import uniffi.doorstep_mobile.Severity
import uniffi.doorstep_mobile.SyncProgress

/** Whether the text holds Chinese characters, so a message is really the Chinese one. */
fun hasChinese(text: String): Boolean = text.any { Character.UnicodeScript.of(it.code) == Character.UnicodeScript.HAN }

/** Syncs through the sync screen's state and returns it once finished. */
fun syncNow(store: DoorstepStore, progress: MutableList<SyncProgress> = mutableListOf()): SyncUi.Done {
    val sync = SyncState(store) { if (it is SyncUi.Running) it.progress?.let(progress::add) }
    assertTrue(sync.start())
    val end = sync.await()
    return end as? SyncUi.Done ?: error("sync did not complete: $end")
}

object VolunteerDayTest {
    val tests = listOf(
        test("test_a_volunteers_day_from_setup_to_a_conflict_another_phone_caused") { volunteersDay() },
    )

    private fun volunteersDay() {
        val server = TestServer.start()

        // Set up: the app opens its store and is not connected until init.
        val store = DoorstepStore.open(TestServer.tempDir("li-na").path)
        assertFalse(store.isConnected())
        store.setProfile(DeviceProfile(device = "phone of 李娜", volunteer = "李娜"))
        store.init(server.url, server.addDevice())
        assertTrue(store.isConnected())

        // Offline: three households visited, each with a member and a finished visit.
        val list = HouseholdListState(store)
        val households = (1..3).map { n ->
            val id = assertNotNull(list.createHousehold(VILLAGE, "14112410020100$n"), "${list.state.error}")
            val visit = HouseholdScreen(store, id).visitFlow()
            assertTrue(visit.start())
            val member = MemberForm(store, id)
            member.editName(listOf("刘伟", "王芳", "张强")[n - 1])
            member.editIdNumber(listOf("11010519491231002X", "", "")[n - 1])
            assertTrue(member.save(), "${member.state.error}")
            assertTrue(
                member.savePage(mapOf("relation" to "01", "employment.status" to "01", "employment.place" to "太原")),
                "${member.state.error}",
            )
            assertTrue(visit.finish("met", notes = "在家", gps = GpsPoint(37.95, 110.98)), "${visit.state.error}")
            id
        }
        list.refresh()
        assertEquals(3, list.state.rows.size)
        assertTrue(list.state.unsyncedChanges > 0, "offline edits wait to be synced")
        assertTrue(list.state.rows.all { it.waitingToSync })

        // A validation error, in Chinese, beside the field.
        val screen = HouseholdScreen(store, households[0])
        screen.load()
        val head = screen.state.household!!.members.single()
        val months = head.path("employment.months_worked")
        assertTrue(screen.setField(months, "15"))
        val issue = screen.state.errors.single { it.path == months }
        assertEquals(Severity.ERROR, issue.severity)
        assertTrue(hasChinese(issue.message.zh), issue.message.zh)
        assertTrue(issue.message.zh.contains("本年务工月数"), issue.message.zh)
        assertTrue(issue.message.en.contains("Months worked"), issue.message.en)
        assertEquals(listOf(issue.message.ui()), screen.state.issuesAt(months))
        assertTrue(screen.setField(months, "8"))
        assertTrue(screen.state.issuesAt(months).isEmpty())

        // Sync, watching the progress arrive.
        val progress = Collections.synchronizedList(mutableListOf<SyncProgress>())
        val done = syncNow(store, progress)
        assertTrue(progress.isNotEmpty(), "the progress callback was called")
        assertEquals(3u, progress.last().householdsUploaded)
        assertEquals(0L, done.report.unsyncedChanges)
        assertEquals(0L, store.unsyncedChanges())

        // Another phone of the same village takes the households and records a different
        // place for the same person, while this phone, offline, records yet another.
        val other = server.phone("phone of 王军")
        syncNow(other)
        assertEquals(3, other.listHouseholds(HouseholdQuery()).size)
        val place = head.path("employment.place")
        assertEquals("太原", other.household(households[0]).members.single().fields.single { it.name == "employment.place" }.value)
        other.setField(households[0], place, "吕梁")
        assertTrue(screen.setField(place, "北京"))
        syncNow(other)
        syncNow(store)

        // The conflict: both values, each with the device that recorded it.
        list.refresh()
        val row = list.state.rows.single { it.id == households[0] }
        assertEquals(1L, row.summary.conflictCount)
        assertTrue(row.needsAttention)
        screen.load()
        val conflict = screen.state.conflicts.single()
        assertEquals(place, conflict.path)
        assertTrue(hasChinese(conflict.label.zh))
        assertEquals(setOf("北京", "吕梁"), conflict.candidates.map { it.value }.toSet())
        assertEquals(setOf("phone of 李娜", "phone of 王军"), conflict.candidates.map { it.device }.toSet())

        // Choosing a value settles it, here and, after syncing, on the other phone.
        assertTrue(screen.resolve(conflict, conflict.candidates.single { it.value == "吕梁" }))
        assertTrue(screen.state.conflicts.isEmpty())
        assertEquals("吕梁", screen.state.value(place))
        syncNow(store)
        syncNow(other)
        assertTrue(other.household(households[0]).conflicts.isEmpty())
        for (id in households) {
            assertEquals(listOf("met"), other.household(id).visits.map { it.outcome })
        }
    }
}
