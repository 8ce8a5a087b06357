// The Kotlin side of the FFI benchmark (scripts/mobile-bench): the calls examples/ffi_bench.rs
// makes directly in Rust, made through the generated bindings on the same store, timed the
// same way. Prints `<name> median_us=<µs>`.
package org.doorstep.bench

import uniffi.doorstep_mobile.DoorstepStore

fun main(args: Array<String>) {
    require(args.size == 3) { "usage: FfiBench DIR HOUSEHOLD SAMPLES" }
    val (dir, household) = args
    val samples = args[2].toInt()
    val store = DoorstepStore.open(dir)
    val head = store.household(household).members[0].key
    val place = "members.$head.employment.place"

    val read = measure(samples) { store.household(household) }
    println("household_read median_us=%.2f".format(read))
    val count = measure(samples) { store.unsyncedChanges() }
    println("unsynced_count median_us=%.2f".format(count))
    val edit = measure(maxOf(samples / 10, 20)) { i -> store.setField(household, place, if (i % 2 == 0) "吕梁" else "太原") }
    println("field_edit median_us=%.2f".format(edit))
}

/** Median microseconds per call, after the same warm-up as the Rust side. */
fun measure(samples: Int, call: (Int) -> Any): Double {
    var sink = 0
    repeat(samples / 2) { if (call(it) === Unit) sink++ }
    val times = DoubleArray(samples) { i ->
        val start = System.nanoTime()
        if (call(i) === Unit) sink++
        (System.nanoTime() - start) / 1000.0
    }
    if (sink == Int.MIN_VALUE) println(sink)
    times.sort()
    return times[samples / 2]
}
