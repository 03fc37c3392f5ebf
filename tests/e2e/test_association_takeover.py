"""An organizer cannot take an association over by uploading a workshop file (issue 15)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import COCHABAMBA, Harness

AMB = 'association:\n  id: amb-bolivia\n  name: "Asociación de Municipalidades de Bolivia (AMB)"'


async def test_a_workshop_file_cannot_take_or_rename_an_association(
    bot: Harness, tmp_path: Path
) -> None:
    text = COCHABAMBA.read_text("utf-8")
    assert AMB in text
    theirs = text.replace("id: cochabamba-2023", "id: otro-taller-2024").replace(
        AMB, 'association:\n  id: otra-asociacion\n  name: "Otra asociación"'
    )
    path = tmp_path / "otro.yaml"
    path.write_text(theirs, "utf-8")
    amb_workshop = await bot.import_workshop()  # as administrators set them up
    their_workshop = await bot.import_workshop(path)
    store = bot.services.store
    amb_id = amb_workshop.association_id
    assert amb_id is not None and their_workshop.association_id not in (None, amb_id)
    olga = bot.double.new_user(first_name="Olga", language_code="es")
    await store.add_organizer(their_workshop.id, olga.id, bot.clock.now())

    # Her own workshop's file, unchanged: imported.
    await olga.send_document("otro.yaml", theirs.encode("utf-8"))
    await bot.settle()
    assert "actualizado" in (olga.last.text or "")

    # Naming AMB's association, or renaming her own: refused, and nothing changes.
    takeover = theirs.replace(
        'association:\n  id: otra-asociacion\n  name: "Otra asociación"',
        'association:\n  id: amb-bolivia\n  name: "Otra cosa"',
    )
    renamed = theirs.replace('name: "Otra asociación"', 'name: "Mía"')
    for attack in (takeover, renamed):
        await olga.send_document("otro.yaml", attack.encode("utf-8"))
        await bot.settle()
        assert "solo un administrador" in (olga.last.text or "")
    amb = await store.association(amb_id)
    assert amb is not None and amb.name == "Asociación de Municipalidades de Bolivia (AMB)"
    after = await store.workshop(their_workshop.id)
    assert after is not None and after.association_id == their_workshop.association_id
    assert not await store.viewer_associations(olga.id)
