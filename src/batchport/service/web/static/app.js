// Shows every <time datetime="…"> in the viewer's own time zone; without this script the
// page shows the UTC time it was rendered with.
document.addEventListener("DOMContentLoaded", () => {
  for (const time of document.querySelectorAll("time[datetime]")) {
    const when = new Date(time.dateTime);
    if (!Number.isNaN(when.getTime())) {
      time.textContent = when.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "medium"});
      time.title = time.dateTime;
    }
  }
});

// A session's page follows its validation or import, a batch's page the rollback asked
// for: progress (where there is some) without a reload, then the page itself once the work
// is done. A server that does not answer, or fails, is asked again a little later (it may be
// restarting); a refusal (signed out, not yours) ends the following.
document.addEventListener("DOMContentLoaded", () => {
  const box = document.querySelector("[data-follow]");
  if (!box) return;
  const bar = box.querySelector("progress");
  const text = box.querySelector("[data-progress-text]");
  const status = document.querySelector("[data-status]");
  const again = () => setTimeout(follow, 2000);
  const follow = async () => {
    let answer;
    try {
      answer = await fetch(box.dataset.follow, {credentials: "same-origin"});
    } catch {
      return again();
    }
    if (answer.status >= 500) return again();
    if (!answer.ok) return;
    const found = await answer.json();
    status.textContent = found.status.replace("_", " ");
    if (bar) {
      bar.value = found.progress;
      const rows = found.rows_read.toLocaleString();
      text.textContent = found.rows_total
        ? `${rows} rows read of ${found.rows_total.toLocaleString()} (${found.progress} %)`
        : `${rows} rows read`;
    }
    if (found.working) setTimeout(follow, 500);
    else location.reload();
  };
  setTimeout(follow, 300);
});
