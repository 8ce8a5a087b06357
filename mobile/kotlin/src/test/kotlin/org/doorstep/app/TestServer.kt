// The real `doorstep` server for the tests: started on a free port with its own SQLite
// data directory, and the devices it issues tokens to.
package org.doorstep.app

import java.io.File
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import uniffi.doorstep_mobile.DeviceProfile
import uniffi.doorstep_mobile.DoorstepStore

const val VILLAGE = "141124100201"

class TestServer private constructor(val dataDir: File, private val process: Process, val url: String) {
    /** Issues a device token for the villages, as county staff would. */
    fun addDevice(vararg villages: String = arrayOf(VILLAGE)): String {
        val args = mutableListOf(binary(), "--data", dataDir.path, "device", "add")
        villages.forEach { args += listOf("--village", it) }
        val process = command(args).start()
        val token = process.inputStream.bufferedReader().readText().trim()
        check(process.waitFor(60, TimeUnit.SECONDS) && process.exitValue() == 0) { "doorstep device add failed" }
        return token
    }

    /** A new phone: a fresh store in its own directory, set up against this server. */
    fun phone(name: String): DoorstepStore {
        val store = DoorstepStore.open(tempDir("phone-$name").path)
        store.setProfile(DeviceProfile(device = name, volunteer = "volunteer of $name"))
        store.init(url, addDevice())
        return store
    }

    fun stop() {
        process.destroy()
        process.waitFor(10, TimeUnit.SECONDS)
    }

    companion object {
        private val started = mutableListOf<TestServer>()

        /** `DOORSTEP_BIN` names the server binary; scripts/mobile-test builds it. */
        fun binary(): String = System.getenv("DOORSTEP_BIN")
            ?: error("DOORSTEP_BIN is not set: run the suite through scripts/mobile-test")

        fun command(args: List<String>): ProcessBuilder {
            val builder = ProcessBuilder(args).redirectError(ProcessBuilder.Redirect.INHERIT)
            // The server must use SQLite under its own --data, never a shared PostgreSQL.
            builder.environment().remove("DATABASE_URL")
            builder.environment()["RUST_LOG"] = "warn"
            return builder
        }

        fun start(): TestServer {
            val dataDir = tempDir("server")
            val process = command(listOf(binary(), "--data", dataDir.path, "serve", "--listen", "127.0.0.1:0")).start()
            val stdout = process.inputStream.bufferedReader()
            val line = stdout.readLine() ?: error("doorstep serve exited before listening")
            val url = line.removePrefix("doorstep listening on ")
            check(url != line) { "unexpected first line from doorstep serve: $line" }
            // Keep reading, so a full pipe never blocks the server.
            Thread { stdout.readLines() }.apply { isDaemon = true }.start()
            return TestServer(dataDir, process, url).also { synchronized(started) { started += it } }
        }

        fun stopAll() = synchronized(started) { started.forEach { it.stop() } }

        fun tempDir(prefix: String): File = Files.createTempDirectory("doorstep-$prefix-").toFile().also { it.deleteOnExit() }
    }
}
