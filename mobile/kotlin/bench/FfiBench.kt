// The Kotlin side of the FFI benchmark (scripts/mobile-bench): the calls examples/ffi_bench.rs
// makes directly in Rust, made through the generated bindings on the same store, timed the
// same way; and, in the same JVM on the same thread, the same Rust loop run directly
// (DoorstepStore.benchDirect, feature `bench`), the yardstick that shares this process.
// Prints `kotlin <name> median_us=<µs>` and `rust_jvm <name> median_us=<µs>` on stdout, and on
// stderr where a household read's time goes (compiled with the bindings, so it can reach their
// internals).
package org.doorstep.bench

import java.nio.ByteBuffer
import uniffi.doorstep_mobile.DoorstepStore
import uniffi.doorstep_mobile.FfiConverterString
import uniffi.doorstep_mobile.FfiConverterTypeHousehold
import uniffi.doorstep_mobile.RustBuffer
import uniffi.doorstep_mobile.UniffiLib
import uniffi.doorstep_mobile.UniffiRustCallStatus

fun main(args: Array<String>) {
    require(args.size == 4) { "usage: FfiBench DIR HOUSEHOLD SAMPLES ROUND" }
    val (dir, household) = args
    val samples = args[2].toInt()
    // Which side goes first alternates from round to round, so neither always runs on the
    // heap and caches the other left.
    val rustFirst = args[3].toInt() % 2 == 0
    val store = DoorstepStore.open(dir)
    val head = store.household(household).members[0].key
    val place = "members.$head.employment.place"

    if (rustFirst) rustInJvm(store, household, place, samples)
    kotlin(store, household, place, samples)
    if (!rustFirst) rustInJvm(store, household, place, samples)
}

private fun kotlin(store: DoorstepStore, household: String, place: String, samples: Int) {
    val read = measure(samples) { store.household(household) }
    println("kotlin household_read median_us=%.2f".format(read))
    val count = measure(samples) { store.unsyncedChanges() }
    println("kotlin unsynced_count median_us=%.2f".format(count))
    val edit = measure(maxOf(samples / 10, 20)) { i -> store.setField(household, place, if (i % 2 == 0) "吕梁" else "太原") }
    println("kotlin field_edit median_us=%.2f".format(edit))

    // The read in parts: the FFI call with its argument and the free of the answer, but no
    // lifting; lifting a copy of the answer alone; and a bare JNA round trip (allocate and
    // free an empty RustBuffer: two calls, each with a call-status Structure).
    val unlifted = measure(samples) {
        val status = UniffiRustCallStatus()
        val answer = UniffiLib.uniffi_doorstep_mobile_fn_method_doorstepstore_household(
            store.uniffiCloneHandle(), FfiConverterString.lower(household), status)
        RustBuffer.free(answer)
    }
    val bytes = run {
        val answer = UniffiLib.uniffi_doorstep_mobile_fn_method_doorstepstore_household(
            store.uniffiCloneHandle(), FfiConverterString.lower(household), UniffiRustCallStatus())
        ByteArray(answer.len.toInt()).also { answer.asByteBuffer()!!.get(it); RustBuffer.free(answer) }
    }
    val lift = measure(samples) { FfiConverterTypeHousehold.read(ByteBuffer.wrap(bytes)) }
    val jna = measure(samples) { RustBuffer.free(RustBuffer.alloc(0UL)) }
    System.err.println("kotlin household_read parts: call without lifting %.2f µs, lifting %d bytes %.2f µs; bare JNA call pair %.2f µs"
        .format(unlifted, bytes.size, lift, jna))
}

/** The Rust loop, run directly by Rust on this thread: one FFI call for all of it. */
private fun rustInJvm(store: DoorstepStore, household: String, place: String, samples: Int) {
    val times = store.benchDirect(household, place, samples.toUInt())
    println("rust_jvm household_read median_us=%.2f".format(times.householdRead))
    println("rust_jvm unsynced_count median_us=%.2f".format(times.unsyncedCount))
    println("rust_jvm field_edit median_us=%.2f".format(times.fieldEdit))
    System.err.println("rust (in the JVM) household_read parts: read and lower into a RustBuffer %.2f µs"
        .format(times.householdReadLowered))
}

/**
 * Median microseconds per call, after the same warm-up as the Rust side: twice as many calls
 * as are measured, which the JIT needs (after half as many, the lifting code was still being
 * compiled and a read measured 1.7 times its settled time).
 */
fun measure(samples: Int, call: (Int) -> Any): Double {
    var sink = 0
    repeat(2 * samples) { if (call(it) === Unit) sink++ }
    val times = DoubleArray(samples) { i ->
        val start = System.nanoTime()
        if (call(i) === Unit) sink++
        (System.nanoTime() - start) / 1000.0
    }
    if (sink == Int.MIN_VALUE) println(sink)
    times.sort()
    return times[samples / 2]
}
