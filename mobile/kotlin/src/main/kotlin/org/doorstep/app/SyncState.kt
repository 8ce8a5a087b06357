// The sync button: runs the core's sync off the UI thread and shows its progress.
package org.doorstep.app

import uniffi.doorstep_mobile.DoorstepException
import uniffi.doorstep_mobile.DoorstepStore
import uniffi.doorstep_mobile.SyncListener
import uniffi.doorstep_mobile.SyncOptions
import uniffi.doorstep_mobile.SyncOutcome
import uniffi.doorstep_mobile.SyncProgress
import uniffi.doorstep_mobile.SyncReport
import uniffi.doorstep_mobile.SyncTask

sealed class SyncUi {
    object Idle : SyncUi()
    data class Running(val progress: SyncProgress?) : SyncUi()
    data class Done(val report: SyncReport) : SyncUi()
    data class Failed(val message: UiMessage, val cancelled: Boolean) : SyncUi()
}

/**
 * The sync's state. The core runs the sync on a thread of its own; the listener's calls
 * arrive there, so `state` is volatile and `onChange` must post to the UI thread.
 */
class SyncState(
    private val store: DoorstepStore,
    private val onChange: (SyncUi) -> Unit = {},
) {
    @Volatile
    var state: SyncUi = SyncUi.Idle
        private set

    @Volatile
    private var task: SyncTask? = null

    private fun publish(next: SyncUi) {
        state = next
        onChange(next)
    }

    /** Starts a sync; returns at once. */
    fun start(options: SyncOptions = SyncOptions()): Boolean {
        val listener = object : SyncListener {
            override fun onProgress(progress: SyncProgress) = publish(SyncUi.Running(progress))
            override fun onFinished(outcome: SyncOutcome) = publish(
                when (outcome) {
                    is SyncOutcome.Completed -> SyncUi.Done(outcome.report)
                    is SyncOutcome.Failed -> SyncUi.Failed(
                        outcome.error.uiMessage(),
                        outcome.error is DoorstepException.Cancelled,
                    )
                },
            )
        }
        publish(SyncUi.Running(null))
        task = attempt({ publish(SyncUi.Failed(it, false)) }) { store.startSync(options, listener) } ?: return false
        return true
    }

    fun cancel() {
        task?.cancel()
    }

    /** Blocks until the running sync ends (for a background worker, or a test). */
    fun await(): SyncUi {
        val running = task ?: return state
        try {
            running.wait()
        } catch (_: DoorstepException) {
            // The outcome reaches `state` through the listener.
        }
        // The listener hears the end just after `wait` returns; give it a moment to land.
        val deadline = System.nanoTime() + 10_000_000_000L
        while (state is SyncUi.Running && System.nanoTime() < deadline) Thread.sleep(5)
        return state
    }
}
