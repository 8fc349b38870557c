// The console's one script (no inline script: the CSP allows none). Everything works without
// it but dropping a photo, previewing it and clicking a face's box; a click on a box presses
// that face's "Search this face" button, which posts the photo back with the face's index.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  var input = document.getElementById("image-file");
  var zone = document.getElementById("drop-zone");
  var preview = document.getElementById("preview");

  function show(file) {
    if (!preview || !file) {
      return;
    }
    if (preview.src) {
      URL.revokeObjectURL(preview.src);
    }
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
  }

  if (input) {
    input.addEventListener("change", function () {
      show(input.files[0]);
    });
  }
  if (zone && input) {
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (e) {
        e.preventDefault();
        zone.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function () {
        zone.classList.remove("dragging");
      });
    });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      if (e.dataTransfer && e.dataTransfer.files.length > 0) {
        input.files = e.dataTransfer.files;
        show(input.files[0]);
      }
    });
  }

  function searchFace(box) {
    var button = document.querySelector('button.search-face[value="' + box.getAttribute("data-face-index") + '"]');
    if (button) {
      button.click();
    }
  }
  document.querySelectorAll("rect.face-box.searchable").forEach(function (box) {
    box.addEventListener("click", function () {
      searchFace(box);
    });
    box.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        searchFace(box);
      }
    });
  });

  // A face whose image is not at hand has no crop: say so instead of a broken image.
  document.querySelectorAll("img.face-crop").forEach(function (img) {
    function missing() {
      img.hidden = true;
      var note = img.parentNode.querySelector(".no-crop");
      if (note) {
        note.hidden = false;
      }
    }
    if (img.complete && img.naturalWidth === 0) {
      missing();
    } else {
      img.addEventListener("error", missing);
    }
  });
});
