// What crosses the FFI boundary: typed errors with both messages, a cancelled sync that
// resumes, calls from several threads at once.
package org.doorstep.app

import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertIs
import kotlin.test.assertTrue
import uniffi.doorstep_mobile.DoorstepException
import uniffi.doorstep_mobile.DoorstepStore
import uniffi.doorstep_mobile.FieldEdit
import uniffi.doorstep_mobile.HouseholdQuery
import uniffi.doorstep_mobile.SyncListener
import uniffi.doorstep_mobile.SyncOptions
import uniffi.doorstep_mobile.SyncOutcome
import uniffi.doorstep_mobile.SyncProgress
import uniffi.doorstep_mobile.SyncTask

object BoundaryTest {
    val tests = listOf(
        test("test_an_invalid_id_number_arrives_as_a_typed_exception_with_chinese_and_english_messages") {
            invalidIdNumber()
        },
        test("test_each_kind_of_failure_arrives_as_its_own_exception_type") { failureKinds() },
        test("test_a_sync_cancelled_halfway_resumes_to_completion") { cancelledSyncResumes() },
        test("test_a_second_sync_is_refused_while_one_runs") { secondSyncRefused() },
        test("test_several_threads_record_at_once_and_every_edit_lands") { severalThreads() },
    )

    private fun newStore(): DoorstepStore = DoorstepStore.open(TestServer.tempDir("store").path)

    private fun invalidIdNumber() {
        val store = newStore()
        val household = store.createHousehold(VILLAGE, null)
        // The check character of this ID number is wrong (it should be X).
        val error = assertFailsWith<DoorstepException.InvalidInput> {
            store.addMember(household, "刘伟", "110105194912310021")
        }
        assertTrue(hasChinese(error.zh), "Chinese message: ${error.zh}")
        assertTrue(error.en.isNotBlank() && !hasChinese(error.en), "English message: ${error.en}")
        assertTrue(error.en.contains("check", ignoreCase = true), error.en)
        // It is also the exception the common handler sees, with the same messages.
        val caught: DoorstepException = error
        assertEquals(UiMessage(error.zh, error.en), caught.uiMessage())
        // Nothing was stored.
        assertTrue(store.household(household).members.isEmpty())
    }

    private fun failureKinds() {
        val store = newStore()
        val missing = assertFailsWith<DoorstepException.NotFound> { store.household("0123456789abcdef0123456789abcdef") }
        assertTrue(hasChinese(missing.zh) && missing.en.contains("not on this device"), "$missing")
        assertFailsWith<DoorstepException.InvalidInput> { store.household("not an id") }
        val household = store.createHousehold(VILLAGE, null)
        val path = assertFailsWith<DoorstepException.InvalidInput> { store.setField(household, "household.nonsense", "1") }
        assertTrue(hasChinese(path.zh), path.zh)
        val outcome = assertFailsWith<DoorstepException.InvalidInput> {
            store.finishVisit(household, store.startVisit(household), "maybe", null, null)
        }
        assertTrue(outcome.zh.contains("走访结果"), outcome.zh)
        // Sync before set-up: the UI shows the set-up screen.
        val notConnected = assertFailsWith<DoorstepException.NotConnected> {
            store.startSync(SyncOptions(), Quiet).wait()
        }
        assertTrue(hasChinese(notConnected.zh), notConnected.zh)
        // A server that is not there: a network error, and the edits stay.
        store.init("http://127.0.0.1:9", "token")
        assertFailsWith<DoorstepException.Network> { store.startSync(SyncOptions(timeoutSeconds = 5u), Quiet).wait() }
        assertTrue(store.unsyncedChanges() > 0)
        // A token the server does not know: the server's refusal, with its status.
        val server = TestServer.start()
        store.init(server.url, "not-a-token")
        val refused = assertFailsWith<DoorstepException.Server> { store.startSync(SyncOptions(), Quiet).wait() }
        assertEquals(401.toUShort(), refused.status)
        assertTrue(hasChinese(refused.zh), refused.zh)
    }

    private fun cancelledSyncResumes() {
        val server = TestServer.start()
        val first = server.phone("first")
        val ids = (1..12).map { n ->
            val id = first.createHousehold(VILLAGE, "14112410020100%02d".format(n))
            val key = first.addMember(id, "成员$n", null)
            first.setFields(id, listOf(FieldEdit("members.$key.relation", "01"), FieldEdit("household.address", "$n 号")))
            id
        }
        syncNow(first)

        // A new phone downloads them in small rounds and is cancelled after the second.
        val second = server.phone("second")
        val task = AtomicReference<SyncTask>()
        val rounds = AtomicInteger()
        val cancelling = object : SyncListener {
            override fun onProgress(progress: SyncProgress) {
                if (rounds.incrementAndGet() == 2) task.get().cancel()
            }
            override fun onFinished(outcome: SyncOutcome) {}
        }
        val gate = CountDownLatch(1)
        val gated = object : SyncListener by cancelling {
            override fun onProgress(progress: SyncProgress) {
                gate.await(10, TimeUnit.SECONDS)
                cancelling.onProgress(progress)
            }
        }
        task.set(second.startSync(SyncOptions(pageBytes = 1u), gated))
        gate.countDown()
        val cancelled = assertFailsWith<DoorstepException.Cancelled> { task.get().wait() }
        assertTrue(hasChinese(cancelled.zh), cancelled.zh)
        assertEquals(2, rounds.get())
        val halfway = second.listHouseholds(HouseholdQuery()).size
        assertTrue(halfway in 1 until ids.size, "cancelled halfway, with $halfway of ${ids.size} households")

        // The next sync goes on from there and completes.
        val done = syncNow(second)
        assertTrue(done.report.rounds > 0u)
        assertEquals(ids.toSet(), second.listHouseholds(HouseholdQuery()).map { it.id }.toSet())
        for ((n, id) in ids.withIndex()) {
            val household = second.household(id)
            assertEquals("${n + 1} 号", household.fields.single { it.name == "address" }.value)
            assertEquals(listOf("成员${n + 1}"), household.members.map { it.name })
        }
        assertEquals(0L, second.unsyncedChanges())
    }

    private fun secondSyncRefused() {
        val server = TestServer.start()
        val store = server.phone("busy")
        store.createHousehold(VILLAGE, null)
        val release = CountDownLatch(1)
        val holding = object : SyncListener {
            override fun onProgress(progress: SyncProgress) {
                release.await(30, TimeUnit.SECONDS)
            }
            override fun onFinished(outcome: SyncOutcome) {}
        }
        val running = store.startSync(SyncOptions(), holding)
        val refused = assertFailsWith<DoorstepException.SyncInProgress> { store.startSync(SyncOptions(), Quiet) }
        assertTrue(hasChinese(refused.zh), refused.zh)
        release.countDown()
        running.wait()
        assertTrue(running.isFinished())
        // Once it ended, the next one may start.
        store.startSync(SyncOptions(), Quiet).wait()
    }

    private fun severalThreads() {
        val store = newStore()
        val pool = Executors.newFixedThreadPool(6)
        val failures = AtomicInteger()
        val writers = (0 until 4).map { t ->
            pool.submit {
                repeat(5) { n ->
                    val id = store.createHousehold(VILLAGE, "T$t-$n")
                    val key = store.addMember(id, "成员$t$n", null)
                    store.setField(id, "members.$key.employment.place", "太原")
                    store.setField(id, "household.address", "$t-$n")
                }
            }
        }
        val readers = (0 until 2).map {
            pool.submit {
                repeat(50) {
                    for (row in store.listHouseholds(HouseholdQuery())) {
                        try {
                            store.household(row.id)
                        } catch (e: DoorstepException) {
                            failures.incrementAndGet()
                        }
                    }
                }
            }
        }
        (writers + readers).forEach { it.get(120, TimeUnit.SECONDS) }
        pool.shutdown()
        assertEquals(0, failures.get())
        val rows = store.listHouseholds(HouseholdQuery())
        assertEquals(20, rows.size)
        for (row in rows) {
            val household = store.household(row.id)
            assertEquals(row.number.removePrefix("T"), household.fields.single { it.name == "address" }.value)
            assertEquals(1, household.members.size)
        }
    }

    private object Quiet : SyncListener {
        override fun onProgress(progress: SyncProgress) {}
        override fun onFinished(outcome: SyncOutcome) {
            assertIs<SyncOutcome>(outcome)
        }
    }
}
