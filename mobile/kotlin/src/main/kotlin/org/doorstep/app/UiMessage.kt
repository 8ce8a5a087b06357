// The text a screen shows when a call fails: the core's own message, in both languages.
package org.doorstep.app

import uniffi.doorstep_mobile.Bilingual
import uniffi.doorstep_mobile.DoorstepException

/** A message for the person holding the phone, Chinese first. */
data class UiMessage(val zh: String, val en: String) {
    override fun toString(): String = "$zh / $en"
}

/** The message every variant of the core's error carries. */
fun DoorstepException.uiMessage(): UiMessage = when (this) {
    is DoorstepException.InvalidInput -> UiMessage(zh, en)
    is DoorstepException.NotFound -> UiMessage(zh, en)
    is DoorstepException.NotConnected -> UiMessage(zh, en)
    is DoorstepException.Network -> UiMessage(zh, en)
    is DoorstepException.Server -> UiMessage(zh, en)
    is DoorstepException.Cancelled -> UiMessage(zh, en)
    is DoorstepException.SyncInProgress -> UiMessage(zh, en)
    is DoorstepException.Other -> UiMessage(zh, en)
}

fun Bilingual.ui(): UiMessage = UiMessage(zh, en)

/** Runs a core call; a failure becomes the message to show instead of a crash. */
internal inline fun <T> attempt(onError: (UiMessage) -> Unit, call: () -> T): T? =
    try {
        call()
    } catch (e: DoorstepException) {
        onError(e.uiMessage())
        null
    }
