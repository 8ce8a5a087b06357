// Field paths, as setField takes them and validation issues and conflicts name them. A
// household read carries each field's name within its record, not its path: the path is the
// record's prefix and key, then the name. This is the document's own key for the field
// (docs/adr/0001), so it does not change.
package org.doorstep.app

import uniffi.doorstep_mobile.Member
import uniffi.doorstep_mobile.Visit

/** `household.<name>`: a field of the household itself. */
fun householdPath(name: String): String = "household.$name"

/** `members.<key>.<name>`. */
fun memberPath(key: String, name: String): String = "members.$key.$name"

/** `visits.<id>.<name>`. */
fun visitPath(id: String, name: String): String = "visits.$id.$name"

/** The path of one of this member's fields. */
fun Member.path(name: String): String = memberPath(key, name)

/** The path of one of this visit's fields. */
fun Visit.path(name: String): String = visitPath(id, name)
