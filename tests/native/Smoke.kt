// A Kotlin app on the generated bindings: construct, observe, connect to an unreachable server
// (a typed error with a code), read the overlay. Run by the test command against the library.
import java.util.concurrent.CopyOnWriteArrayList
import kotlinx.coroutines.runBlocking
import uniffi.assistrtc_uniffi.AssistClient
import uniffi.assistrtc_uniffi.AssistException
import uniffi.assistrtc_uniffi.CallEvent
import uniffi.assistrtc_uniffi.CallObserver
import uniffi.assistrtc_uniffi.ConnectOptions

class Collect : CallObserver {
    val events = CopyOnWriteArrayList<CallEvent>()
    override fun onEvent(event: CallEvent) {
        events.add(event)
    }
}

fun main() = runBlocking {
    val client = AssistClient(ConnectOptions(url = "http://127.0.0.1:1", token = "t", noticeAcknowledged = true))
    val observer = Collect()
    val handle = client.setObserver(observer)
    check(client.state() == "idle") { "state before connect: ${client.state()}" }
    try {
        client.connect()
        error("connect to a closed port succeeded")
    } catch (e: AssistException.Failed) {
        check(e.code == "unreachable") { "code ${e.code}" }
    }
    check(observer.events.any { it is CallEvent.Ended && it.code == "unreachable" }) { "events ${observer.events}" }
    check(client.overlay().shapes.isEmpty())
    handle.cancel()
    println("kotlin bindings: ok (${observer.events.size} events)")
}
