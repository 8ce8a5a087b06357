// A small test runner: runs every test, prints each result, and exits non-zero if any
// failed. (JUnit is not on this machine; kotlin-test's assertions work without it.)
package org.doorstep.app

import kotlin.system.exitProcess

class TestCase(val name: String, val body: () -> Unit)

fun test(name: String, body: () -> Unit) = TestCase(name, body)

fun main(args: Array<String>) {
    val all = VolunteerDayTest.tests + BoundaryTest.tests + ScreenStateTest.tests + StaffDecisionTest.tests
    val selected = if (args.isEmpty()) all else all.filter { t -> args.any { t.name.contains(it) } }
    check(selected.isNotEmpty()) { "no test matches ${args.toList()}" }
    var failed = 0
    for (case in selected) {
        val started = System.nanoTime()
        try {
            case.body()
            println("PASS ${case.name} (${(System.nanoTime() - started) / 1_000_000} ms)")
        } catch (e: Throwable) {
            failed++
            println("FAIL ${case.name}")
            e.printStackTrace(System.out)
        }
    }
    println("${selected.size - failed} passed, $failed failed")
    TestServer.stopAll()
    exitProcess(if (failed == 0) 0 else 1)
}
