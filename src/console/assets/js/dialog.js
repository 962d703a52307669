// @ts-check
// The one modal of the console: asks for a reason (every review decision and every app switch is recorded
// with one) and resolves with it, or with null when cancelled. `onConfirm` runs while the dialog is open so
// an error from the API can be shown in it; the dialog closes only when the action succeeded.
import { byId } from "./dom.js";

/**
 * @param {{ title: string, summary: string, confirm?: string, required?: boolean, onConfirm(reason: string): Promise<void> }} o
 * @returns {Promise<boolean>} whether the action was confirmed and succeeded
 */
export function askReason(o) {
  const dialog = /** @type {HTMLDialogElement} */ (byId("reason-dialog"));
  const form = /** @type {HTMLFormElement} */ (byId("reason-form"));
  const input = /** @type {HTMLTextAreaElement} */ (byId("reason-input"));
  const error = byId("reason-error");
  const confirm = /** @type {HTMLButtonElement} */ (byId("reason-confirm"));
  const cancel = byId("reason-cancel");
  byId("reason-title").textContent = o.title;
  byId("reason-summary").textContent = o.summary;
  confirm.textContent = o.confirm ?? "Confirm";
  input.value = "";
  input.required = o.required !== false;
  error.hidden = true;
  confirm.disabled = false;
  return new Promise((resolve) => {
    const done = (/** @type {boolean} */ ok) => {
      form.removeEventListener("submit", onSubmit);
      cancel.removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      resolve(ok);
    };
    const onCancel = (/** @type {Event} */ e) => { e.preventDefault(); done(false); };
    const onSubmit = async (/** @type {SubmitEvent} */ e) => {
      e.preventDefault();
      const reason = input.value.trim();
      if (input.required && !reason) { error.textContent = "A reason is required: it is recorded in the audit log."; error.hidden = false; input.focus(); return; }
      confirm.disabled = true;
      try {
        await o.onConfirm(reason);
        done(true);
      } catch (err) {
        error.textContent = err instanceof Error ? err.message : String(err);
        error.hidden = false;
        confirm.disabled = false;
      }
    };
    form.addEventListener("submit", onSubmit);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    input.focus();
  });
}
