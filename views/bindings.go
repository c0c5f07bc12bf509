package views

import "strconv"

// binding is one row of the help overlay.
type binding struct {
	Keys   []string
	Action string
}

// bindingGroup is a titled section of the help overlay.
type bindingGroup struct {
	Title    string
	Bindings []binding
}

// bindingGroups are the bindings annotators expect (docs/UX.md); static/js/input.js
// (keyCommand) implements exactly these.
var bindingGroups = []bindingGroup{
	{Title: "Prompt", Bindings: []binding{
		{[]string{"Click"}, "Positive point (green)"},
		{[]string{"Right-click", "Shift+Click", "Alt+Click"}, "Negative point (red)"},
		{[]string{"Drag"}, "Box"},
		{[]string{"Click a point"}, "Remove it"},
		{[]string{"Hold Ctrl"}, "Place several points; one request on release"},
		{[]string{"Esc"}, "Clear the prompt"},
		{[]string{"Tab"}, "Next candidate segment"},
	}},
	{Title: "Objects", Bindings: []binding{
		{[]string{"Enter"}, "Accept the object; without a label (or the first time on an image) it asks for the label, and Enter there accepts"},
		{[]string{"N"}, "New object"},
		{[]string{"1–9"}, "Pick a recent label"},
		{[]string{"Delete", "Backspace"}, "Delete the selected object"},
		{[]string{"Ctrl+Z", "⌘Z"}, "Undo (prompt while an object is open, objects otherwise)"},
		{[]string{"Ctrl+Shift+Z", "⌘⇧Z", "Ctrl+Y"}, "Redo"},
		{[]string{"[", "]"}, "Less / more polygon detail (the raw polygon is kept)"},
		{[]string{"I"}, "How the selected object was made: prompt, job, raw and saved outline, writes to CDF"},
	}},
	{Title: "Annotations in CDF", Bindings: []binding{
		{[]string{"Shift+Alt+Click"}, "Select the CDF annotation under the cursor (a negative point where there is none)"},
		{[]string{"Drag a handle"}, "While editing a CDF annotation's shape: move that vertex"},
		{[]string{"Enter", "Esc"}, "In its label field: save the label in CDF / put it back"},
		{[]string{"I"}, "How the selected CDF annotation was made, when Lasso made it (and no object is selected)"},
	}},
	{Title: "View", Bindings: []binding{
		{[]string{"Wheel"}, "Zoom at the cursor"},
		{[]string{"Space+Drag", "Middle-drag"}, "Pan"},
		{[]string{"F"}, "Fit to window"},
		{[]string{"+", "−"}, "Zoom in / out"},
		{[]string{"A", "←"}, "Previous image"},
		{[]string{"D", "→"}, "Next image"},
		{[]string{"?"}, "This help"},
	}},
}

// sizeText formats a pixel size as "1280×960".
func sizeText(w, h int) string {
	return strconv.Itoa(w) + "×" + strconv.Itoa(h)
}

// roomBindings are the bindings that only exist in a room.
var roomBindings = bindingGroup{Title: "Room", Bindings: []binding{
	{[]string{"D", "→", "Shift+N"}, "Next untouched image nobody else is on"},
	{[]string{"A", "←"}, "Previous image of the room"},
	{[]string{"Take over"}, "Edit an object another member is segmenting (asks first)"},
}}

// reviewBindings are review mode's (the room's owner and reviewers): a mode of its own, where
// A approves instead of going back an image.
var reviewBindings = bindingGroup{Title: "Review mode (owner and reviewers)", Bindings: []binding{
	{[]string{"V"}, "Enter or leave review mode"},
	{[]string{"Tab", "J"}, "Next accepted object awaiting review"},
	{[]string{"Shift+Tab", "K"}, "Previous object awaiting review"},
	{[]string{"Click"}, "Select the object under the cursor (no prompts in review mode)"},
	{[]string{"A"}, "Approve the selected object"},
	{[]string{"R"}, "Reject the selected object"},
	{[]string{"U"}, "Take the decision back"},
	{[]string{"→", "D"}, "Next image with objects awaiting review"},
	{[]string{"←"}, "Previous image with objects to review"},
	{[]string{"Esc"}, "Deselect"},
}}

// helpGroups are the help overlay's sections; a room adds its own.
func helpGroups(room bool) []bindingGroup {
	if !room {
		return bindingGroups
	}
	return append(append([]bindingGroup(nil), bindingGroups...), roomBindings, reviewBindings)
}
