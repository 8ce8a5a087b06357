// A conflict two phones made, decided by county staff through the review queue (the
// `doorstep review` client of the review API), and the decision arriving on both phones.
package org.doorstep.app

import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import uniffi.doorstep_mobile.HouseholdQuery

object StaffDecisionTest {
    val tests = listOf(
        test("test_staff_decide_a_conflict_in_the_review_queue_and_both_phones_show_it_settled") { staffDecide() },
    )

    /** Runs `doorstep ARGS` with `input` on standard input; returns its standard output. */
    private fun doorstep(server: TestServer, input: String, vararg args: String): String {
        val process = TestServer.command(listOf(TestServer.binary(), "--data", server.dataDir.path) + args).start()
        process.outputStream.bufferedWriter().use { it.write(input) }
        val output = process.inputStream.bufferedReader().readText().trim()
        check(process.waitFor(60, TimeUnit.SECONDS) && process.exitValue() == 0) {
            "doorstep ${args.toList()} failed: $output"
        }
        return output
    }

    private fun staffDecide() {
        val server = TestServer.start()
        val first = server.phone("phone of 李娜")
        val second = server.phone("phone of 王军")
        val household = first.createHousehold(VILLAGE, "1411241002010009")
        val member = first.addMember(household, "刘伟", "11010519491231002X")
        syncNow(first)
        syncNow(second)
        val place = "members.$member.employment.place"
        first.setField(household, place, "北京")
        second.setField(household, place, "吕梁")
        syncNow(first)
        syncNow(second)
        syncNow(first)
        assertEquals(1, first.household(household).conflicts.size, "both phones see the conflict")

        // County staff log in and decide it from the queue.
        val password = "county clerk password"
        doorstep(
            server, "$password\n",
            "staff", "add", "--username", "lihua", "--name", "县审核员李华",
            "--role", "county_staff", "--scope", "141124",
        )
        val token = doorstep(server, "$password\n", "login", "--server", server.url, "--username", "lihua")
        val review = arrayOf("review", "--server", server.url, "--token", token)
        val queue = doorstep(server, "", *review, "list", "--kind", "conflict", "--json")
        val item = Regex("\"id\":\\s*\"([0-9a-f]{16})\"").find(queue)?.groupValues?.get(1)
            ?: error("no conflict item in the queue: $queue")
        doorstep(server, "", *review, "resolve", item, "--value", "吕梁", "--comment", "电话核实")

        // The decision is an ordinary change: each phone has it after its next sync.
        for (phone in listOf(first, second)) {
            syncNow(phone)
            val settled = phone.household(household)
            assertTrue(settled.conflicts.isEmpty(), "settled on the phone: ${settled.conflicts}")
            assertEquals("吕梁", settled.members.single().fields.single { it.name == "employment.place" }.value)
            assertEquals(1, phone.listHouseholds(HouseholdQuery()).size)
        }
    }
}
